/** Bytes of spare chunk buffers one object being filled keeps at most. */
export const MAX_SPARE_BUFFER_BYTES = 16 * 1024 * 1024

/**
 * Chunk-sized buffers of one object being filled, used again once a chunk is written (see
 * PartialCore.writeChunk for why chunks are copied at all). A buffer is taken when a chunk
 * arrives and given back once its write is done; none is shared while in use. Spares never
 * outnumber the writes that were in flight at once, are bounded in bytes, and go with the
 * object.
 */
export class ChunkBuffers {
  readonly #spare: Buffer[] = []
  readonly #maxSpares: number

  constructor(private readonly chunkBytes: number) {
    this.#maxSpares = Math.max(1, Math.floor(MAX_SPARE_BUFFER_BYTES / Math.max(1, chunkBytes)))
  }

  /** A buffer of chunkBytes. */
  take(): Buffer {
    // not from Buffer's shared slab: a buffer kept for reuse must not pin a slab others use
    return this.#spare.pop() ?? Buffer.allocUnsafeSlow(Math.max(1, this.chunkBytes))
  }

  /** Gives back a buffer from take(), once nothing reads it any more. */
  give(buffer: Buffer): void {
    if (this.#spare.length < this.#maxSpares) this.#spare.push(buffer)
  }

  /** Lets go of the spares. */
  clear(): void {
    this.#spare.length = 0
  }
}
