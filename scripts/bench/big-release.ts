import { join } from 'node:path'
import {
  createRelease,
  describingSink,
  signRelease,
  type Release,
  type ReleaseKeyPair,
} from '../../src/release/index.js'
import { importRevision } from '../../src/revision/index.js'
import { generateRevision } from '../../test/sim/revision-generator.js'

export interface BigRelease {
  release: Release
  /** the pvr export (uncompressed tar) the release was made from, for `device.seed` */
  revisionPath: string
  /** sha256 of the one large object */
  largeObjectSha256: string
  /** bytes of every object together (the large one and a few KiB of others) */
  objectBytes: number
}

/**
 * A signed release of a valid Pantavisor revision whose bulk is one object of exactly
 * `objectBytes` (the BSP's kernel image), streamed to an uncompressed pvr export in `dir`:
 * nothing is held in memory, whatever the size.
 */
export async function bigRelease(init: {
  dir: string
  objectBytes: number
  key: ReleaseKeyPair
  fleet: string
  chunkBytes?: number
}): Promise<BigRelease> {
  const chunkBytes = init.chunkBytes ?? 1024 * 1024
  const generated = await generateRevision({
    path: join(init.dir, 'revision.tar'),
    largeObjectBytes: init.objectBytes,
    seed: 'pvswarm-bench',
  })
  const sink = describingSink(chunkBytes)
  const { revision } = await importRevision(generated.path, sink)
  const objects = [...sink.described.values()]
  const large = objects.find(object => object.size === init.objectBytes)
  if (large === undefined) throw new Error(`no object of ${init.objectBytes} bytes was generated`)
  const release = signRelease(
    createRelease({ revision, objects, fleet: init.fleet, sequence: 1, chunkBytes }),
    init.key,
  )
  return {
    release,
    revisionPath: generated.path,
    largeObjectSha256: large.sha256,
    objectBytes: generated.objectBytes,
  }
}
