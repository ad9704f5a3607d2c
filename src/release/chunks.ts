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
 * Incremental form of `describeObject`: feed it an object's bytes in pieces of
 * any size, then ask for the release entry. Holds no bytes, only hash states.
 */
export class ObjectDescriber {
  private readonly whole = createHash('sha256')
  private readonly chunks: string[] = []
  private chunk = createHash('sha256')
  private inChunk = 0
  private size = 0

  constructor(private readonly chunkBytes: number) {}

  update(piece: Uint8Array): void {
    this.whole.update(piece)
    this.size += piece.byteLength
    let offset = 0
    while (offset < piece.byteLength) {
      const take = Math.min(this.chunkBytes - this.inChunk, piece.byteLength - offset)
      this.chunk.update(piece.subarray(offset, offset + take))
      this.inChunk += take
      offset += take
      if (this.inChunk === this.chunkBytes) {
        this.chunks.push(this.chunk.digest('hex'))
        this.chunk = createHash('sha256')
        this.inChunk = 0
      }
    }
  }

  /** The entry for everything fed so far; call once, at the end. */
  digest(): ReleaseObject {
    if (this.inChunk > 0 || this.chunks.length === 0) this.chunks.push(this.chunk.digest('hex'))
    return { sha256: this.whole.digest('hex'), size: this.size, chunks: this.chunks }
  }
}

/**
 * Hashes a stream of an object's bytes into its release entry: the whole
 * object's sha256, its size and the sha256 of every `chunkBytes` slice.
 */
export async function describeObject(
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  chunkBytes: number,
): Promise<ReleaseObject> {
  const describer = new ObjectDescriber(chunkBytes)
  for await (const piece of bytes) describer.update(piece)
  return describer.digest()
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
