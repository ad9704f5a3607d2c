import { createHash } from 'node:crypto'
import type { ReleaseObject } from './types.js'

/**
 * Number of chunks of an object. An empty object still has one (empty) chunk,
 * so every object is fetched, verified and published the same way.
 */
export function chunkCount(size: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(size / chunkBytes))
}

/** Length of chunk `index` of an object of `size` bytes. */
export function chunkLength(size: number, chunkBytes: number, index: number): number {
  return Math.max(0, Math.min(chunkBytes, size - index * chunkBytes))
}

/**
 * Hashes a stream of an object's bytes into its release entry: the whole
 * object's sha256, its size and the sha256 of every `chunkBytes` slice.
 * Holds at most one chunk in memory.
 */
export async function describeObject(
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  chunkBytes: number,
): Promise<ReleaseObject> {
  const whole = createHash('sha256')
  const chunks: string[] = []
  let chunk = createHash('sha256')
  let inChunk = 0
  let size = 0

  for await (const piece of bytes) {
    whole.update(piece)
    size += piece.byteLength
    let offset = 0
    while (offset < piece.byteLength) {
      const take = Math.min(chunkBytes - inChunk, piece.byteLength - offset)
      chunk.update(piece.subarray(offset, offset + take))
      inChunk += take
      offset += take
      if (inChunk === chunkBytes) {
        chunks.push(chunk.digest('hex'))
        chunk = createHash('sha256')
        inChunk = 0
      }
    }
  }

  if (inChunk > 0 || chunks.length === 0) chunks.push(chunk.digest('hex'))
  return { sha256: whole.digest('hex'), size, chunks }
}

/**
 * An object sink (revision/'s `ObjectSink` shape) that stores nothing and
 * describes every object it is given, so a release can be built straight from
 * a pvr export or checkout.
 */
export function describingSink(chunkBytes: number): {
  has(sha256: string): Promise<boolean>
  put(sha256: string, size: number, bytes: AsyncIterable<Uint8Array>): Promise<void>
  described: Map<string, ReleaseObject>
} {
  const described = new Map<string, ReleaseObject>()
  return {
    described,
    async has() {
      return false
    },
    async put(sha256, size, bytes) {
      const object = await describeObject(bytes, chunkBytes)
      if (object.sha256 !== sha256 || object.size !== size) {
        throw new RangeError(
          `object ${sha256}: expected ${size} bytes hashing to its name, got ${object.size} bytes hashing to ${object.sha256}`,
        )
      }
      described.set(sha256, object)
    },
  }
}
