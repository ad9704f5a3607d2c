import { open, readdir, readFile, type FileHandle } from 'node:fs/promises'
import {
  bitmapOf,
  checkChunkSpec,
  chunkCountOf,
  chunkLengthOf,
  coveringChunks,
  type ChunkedObjectSpec,
} from './chunks.js'
import { readChunkLog } from './chunk-log.js'
import { sha256HexOffThread } from './digest.js'
import { fsyncDir, isNotFound, readAt, removeIfPresent, writeFileAtomic } from './fs-util.js'
import { parsePartialName, type Layout } from './layout.js'

/*
 * The three files of a partial object: partial/<sha> (the object's bytes, a sparse file of its
 * full size), partial/<sha>.meta.json (the spec, written atomically before the first chunk) and
 * partial/<sha>.chunks (the log of verified chunks, see chunk-log.ts).
 */

interface MetaFile extends ChunkedObjectSpec {
  version: 1
}

/** Write the meta file of a partial, atomically. */
export async function writePartialMeta(layout: Layout, spec: ChunkedObjectSpec): Promise<void> {
  const meta: MetaFile = {
    version: 1,
    sha256: spec.sha256,
    size: spec.size,
    chunkBytes: spec.chunkBytes,
    chunkSha256: [...spec.chunkSha256],
  }
  await writeFileAtomic(
    layout.tempFile('meta'),
    layout.partialMeta(spec.sha256),
    JSON.stringify(meta),
  )
}

/**
 * The spec a partial was started with, or undefined when there is no meta file or it cannot be
 * trusted (torn, edited, for another object); such a partial is started again from nothing.
 */
export async function readPartialMeta(
  layout: Layout,
  sha256: string,
): Promise<ChunkedObjectSpec | undefined> {
  let text: string
  try {
    text = await readFile(layout.partialMeta(sha256), 'utf8')
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
  try {
    const meta = JSON.parse(text) as Partial<MetaFile>
    if (meta.version !== 1 || meta.sha256 !== sha256) return undefined
    const spec: ChunkedObjectSpec = {
      sha256,
      size: meta.size as number,
      chunkBytes: meta.chunkBytes as number,
      chunkSha256: meta.chunkSha256 as string[],
    }
    checkChunkSpec(spec)
    return spec
  } catch {
    return undefined
  }
}

/** Remove every file of a partial. */
export async function discardPartialFiles(layout: Layout, sha256: string): Promise<void> {
  let removed = false
  for (const path of [
    layout.partialChunks(sha256),
    layout.partialData(sha256),
    layout.partialMeta(sha256),
  ]) {
    if (await removeIfPresent(path)) removed = true
  }
  // no fsync when nothing was there: a download starts every object this way, and one fsync of
  // partial/ per object was a third of the time before its first request
  if (removed) await fsyncDir(layout.partial)
}

/**
 * Re-hash each of `indexes` in the partial's data against the spec: the recorded chunks that
 * still hold the right bytes, and those that do not.
 */
export async function verifyChunks(
  data: FileHandle,
  spec: ChunkedObjectSpec,
  indexes: Iterable<number>,
): Promise<{ good: number[]; bad: number[] }> {
  const good: number[] = []
  const bad: number[] = []
  for (const index of indexes) {
    const length = chunkLengthOf(spec.size, spec.chunkBytes, index)
    const bytes = await readAt(data, index * spec.chunkBytes, length)
    const ok =
      bytes.length === length && (await sha256HexOffThread(bytes)) === spec.chunkSha256[index]
    ;(ok ? good : bad).push(index)
  }
  return { good, bad }
}

/** Recorded chunk indexes of a partial that lie inside its spec. */
export async function recordedChunks(layout: Layout, spec: ChunkedObjectSpec): Promise<number[]> {
  const count = spec.chunkSha256.length
  return (await readChunkLog(layout.partialChunks(spec.sha256))).filter(index => index < count)
}

/** A partial's data file, or undefined if it is gone. */
export async function openPartialData(
  layout: Layout,
  sha256: string,
  flags: 'r' | 'r+',
): Promise<FileHandle | undefined> {
  try {
    return await open(layout.partialData(sha256), flags)
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

/** Partial object ids that have any file in partial/. */
export async function partialIds(layout: Layout): Promise<string[]> {
  const ids = new Set<string>()
  for (const name of await readdir(layout.partial)) {
    const parsed = parsePartialName(name)
    if (parsed) ids.add(parsed.sha256)
  }
  return [...ids].sort()
}

/**
 * Chunk `index` of a `chunkBytes` chunking from a partial nobody has open, re-verified against
 * its meta before it is returned (nothing vouches for those bytes since the last resume).
 */
export async function readClosedPartialChunk(
  layout: Layout,
  sha256: string,
  index: number,
  chunkBytes: number,
): Promise<Uint8Array | undefined> {
  const spec = await readPartialMeta(layout, sha256)
  if (!spec) return undefined
  const cover = coveringChunks(spec.size, spec.chunkBytes, chunkBytes, index)
  if (!cover) return undefined
  const recorded = new Set(await recordedChunks(layout, spec))
  const own: number[] = []
  for (let chunk = cover.first; chunk <= cover.last; chunk++) {
    if (!recorded.has(chunk)) return undefined
    own.push(chunk)
  }

  const data = await openPartialData(layout, sha256, 'r')
  if (!data) return undefined
  try {
    const { bad } = await verifyChunks(data, spec, own)
    if (bad.length > 0) return undefined
    return await readAt(data, cover.start, cover.end - cover.start)
  } finally {
    await data.close()
  }
}

/** Bitmap of the recorded chunks of a partial nobody has open, in a `chunkBytes` chunking. */
export async function closedPartialChunkMap(
  layout: Layout,
  sha256: string,
  chunkBytes: number,
): Promise<Uint8Array | undefined> {
  const spec = await readPartialMeta(layout, sha256)
  if (!spec) return undefined
  const recorded = new Set(await recordedChunks(layout, spec))
  return bitmapOf(chunkCountOf(spec.size, chunkBytes), index => {
    const cover = coveringChunks(spec.size, spec.chunkBytes, chunkBytes, index)
    if (!cover) return false
    for (let chunk = cover.first; chunk <= cover.last; chunk++) {
      if (!recorded.has(chunk)) return false
    }
    return true
  })
}
