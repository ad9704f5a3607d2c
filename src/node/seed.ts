import {
  InvalidReleaseError,
  ObjectDescriber,
  checkReleaseRevision,
  type Release,
  type ReleaseObject,
} from '../release/index.js'
import { stat } from 'node:fs/promises'
import { importRevision, type ImportResult } from '../revision/index.js'
import type { Store } from '../store/index.js'
import { shortId } from '../util/hex.js'

export interface SeedResult {
  objects: number
  /** bytes of objects the data directory did not hold yet */
  addedBytes: number
}

/**
 * Puts the objects of a release into a store from the pvr export or checkout
 * it was made from. Every object is checked three ways while it streams: its
 * sha256 (the importer and the store), and each chunk against the release's
 * chunk hashes — a seed that would serve chunks the release does not match
 * would only get itself banned by every peer.
 */
export async function seedObjects(
  store: Store,
  release: Release,
  revisionPath: string,
): Promise<SeedResult> {
  checkReleaseRevision(release)
  const expected = new Map(release.objects.map(o => [o.sha256, o]))
  let addedBytes = 0

  const notInRelease = (sha256: string): InvalidReleaseError =>
    new InvalidReleaseError(`object ${shortId(sha256)} of ${revisionPath} is not in the release`)
  const sink = {
    async has(sha256: string): Promise<boolean> {
      if (!expected.has(sha256)) throw notInRelease(sha256)
      return store.has(sha256)
    },
    async put(sha256: string, size: number, bytes: AsyncIterable<Uint8Array>): Promise<void> {
      const entry = expected.get(sha256)
      if (entry === undefined) throw notInRelease(sha256)
      const describer = new ObjectDescriber(release.chunkBytes)
      async function* tapped(): AsyncGenerator<Uint8Array> {
        for await (const piece of bytes) {
          describer.update(piece)
          yield piece
        }
      }
      const present = await store.has(sha256)
      await store.put(sha256, size, tapped())
      if (!present) addedBytes += size

      checkChunkList(entry, describer.digest())
    },
  }

  const held = await Promise.all(release.objects.map(o => store.has(o.sha256)))
  if (held.every(Boolean)) {
    // already imported (by `pvswarm seed` before the daemon ran): check the chunk lists
    // against the store's copies
    for (const object of release.objects) {
      const describer = new ObjectDescriber(release.chunkBytes)
      for await (const piece of store.read(object.sha256)) describer.update(piece)
      checkChunkList(object, describer.digest())
    }
    // the revision file may be gone by now; when it is there it must still be this release's
    if (await exists(revisionPath)) checkRevisionFile(await importRevision(revisionPath, sink))
    return { objects: release.objects.length, addedBytes: 0 }
  }

  const imported = await importRevision(revisionPath, sink)
  checkRevisionFile(imported)
  return { objects: imported.objects.length, addedBytes }

  function checkRevisionFile(imported: ImportResult): void {
    if (imported.revision.sha256 !== release.revision.sha256) {
      throw new InvalidReleaseError(
        `${revisionPath} holds revision ${shortId(imported.revision.sha256)}, the release names ${shortId(release.revision.sha256)}`,
      )
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

function checkChunkList(entry: ReleaseObject, described: ReleaseObject): void {
  const bad = described.chunks.findIndex((chunk, index) => chunk !== entry.chunks[index])
  if (described.size !== entry.size || bad !== -1) {
    throw new InvalidReleaseError(
      `object ${shortId(entry.sha256)}: the release's chunk list does not match its bytes ` +
        (bad === -1 ? `(size ${entry.size} vs ${described.size})` : `(first at chunk ${bad})`),
    )
  }
}
