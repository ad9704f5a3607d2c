import { readFile, open, type FileHandle } from 'node:fs/promises'
import { sha256Hex } from '../util/hex.js'
import { checkChunkSpec, chunkLengthOf, type ChunkedObjectSpec } from './chunks.js'
import { readChunkLog } from './chunk-log.js'
import { fsyncDir, isNotFound, readAt, removeFile, writeFileAtomic } from './fs-util.js'
import type { Layout } from './layout.js'

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
  await removeFile(layout.partialChunks(sha256))
  await removeFile(layout.partialData(sha256))
  await removeFile(layout.partialMeta(sha256))
  await fsyncDir(layout.partial)
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
    const ok = bytes.length === length && sha256Hex(bytes) === spec.chunkSha256[index]
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
