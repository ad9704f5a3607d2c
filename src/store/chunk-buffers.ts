/** Buffers kept for reuse at most, per object being filled. */
export const MAX_SPARE_CHUNK_BUFFERS = 16

/**
 * Chunk-sized buffers of one object being filled, used again once a chunk is written. Each
 * chunk checked on a hash-pool thread is first copied into a buffer of its own; a fresh 1 MiB
 * buffer per chunk is external memory V8 counts towards its next full collection, and at 100+
 * chunks a second that alone brought a full GC every few dozen chunks. A buffer is taken
 * before a chunk is copied and given back after its write; none is shared while in use.
 * Spares are bounded by the writes that were in flight at once, and go with the object.
 */
export class ChunkBuffers {
  readonly #spare: Buffer[] = []

  constructor(private readonly chunkBytes: number) {}

  /** A buffer of `length` bytes (at most chunkBytes) that owns its ArrayBuffer's start. */
  take(length: number): Buffer {
    const buffer = this.#spare.pop() ?? Buffer.allocUnsafeSlow(Math.max(1, this.chunkBytes))
    return buffer.subarray(0, length)
  }

  /** Gives back a buffer from take() (or its ArrayBuffer, handed back by another thread). */
  give(bytes: Uint8Array): void {
    if (this.#spare.length >= MAX_SPARE_CHUNK_BUFFERS) return
    if (bytes.buffer.byteLength !== Math.max(1, this.chunkBytes)) return
    this.#spare.push(Buffer.from(bytes.buffer as ArrayBuffer))
  }

  /** Lets go of the spares. */
  clear(): void {
    this.#spare.length = 0
  }
}
