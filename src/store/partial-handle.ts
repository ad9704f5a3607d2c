import { shortId } from '../util/hex.js'
import type { ChunkBytes } from './chunk-bytes.js'
import { StoreClosedError } from './errors.js'
import type { PartialObject } from './index.js'
import type { PartialCore } from './partial.js'

/**
 * One caller's view of a shared PartialCore. Closing the handle only lets go of this caller's
 * share; the core closes when the last handle does.
 */
export class PartialHandle implements PartialObject {
  #closed = false

  constructor(
    private readonly core: PartialCore,
    private readonly letGo: () => Promise<void>,
  ) {}

  get sha256(): string {
    return this.core.spec.sha256
  }

  get size(): number {
    return this.core.spec.size
  }

  get chunkBytes(): number {
    return this.core.spec.chunkBytes
  }

  get chunkCount(): number {
    return this.core.chunkCount
  }

  get verifiedCount(): number {
    return this.core.heldCount
  }

  has(index: number): boolean {
    return this.core.has(index)
  }

  missing(): number[] {
    return this.core.missing()
  }

  isComplete(): boolean {
    return this.core.isComplete()
  }

  async writeChunk(index: number, bytes: ChunkBytes): Promise<'stored' | 'already'> {
    if (this.#closed) throw new StoreClosedError(`partial object ${shortId(this.sha256)}`)
    return this.core.writeChunk(index, bytes)
  }

  async readChunk(index: number): Promise<Uint8Array | undefined> {
    if (this.#closed) return undefined
    return this.core.readChunk(index)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.letGo()
  }
}
