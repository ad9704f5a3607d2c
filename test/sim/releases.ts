import {
  createRelease,
  DEFAULT_CHUNK_BYTES,
  describingSink,
  releaseId,
  signRelease,
  type Release,
  type ReleaseKeyPair,
} from '../../src/release/index.js'
import { importRevision } from '../../src/revision/index.js'

/** A signed release of a pvr export, as the simulator publishes it. */
export interface SimRelease {
  release: Release
  id: string
  /** the pvr export it was made from (what the seed imports) */
  revisionPath: string
  /** bytes of all its objects */
  objectBytes: number
}

export interface SimReleaseInit {
  key: ReleaseKeyPair
  fleet: string
  sequence: number
  /** @default DEFAULT_CHUNK_BYTES (1 MiB) */
  chunkBytes?: number
}

/** Reads a pvr export once, describes its objects (sizes, chunk hashes) and signs a release of it. */
export async function makeSimRelease(
  revisionPath: string,
  init: SimReleaseInit,
): Promise<SimRelease> {
  const chunkBytes = init.chunkBytes ?? DEFAULT_CHUNK_BYTES
  const sink = describingSink(chunkBytes)
  const { revision } = await importRevision(revisionPath, sink)
  const objects = [...sink.described.values()]
  const release = signRelease(
    createRelease({
      revision,
      objects,
      fleet: init.fleet,
      sequence: init.sequence,
      chunkBytes,
    }),
    init.key,
  )
  return {
    release,
    id: releaseId(release),
    revisionPath,
    objectBytes: objects.reduce((sum, object) => sum + object.size, 0),
  }
}
