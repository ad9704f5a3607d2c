import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { chunkLengthOf, type ChunkedObjectSpec } from './chunks.js'
import { readInto } from './fs-util.js'

/**
 * The sha256 of a whole object being filled, computed as its chunks arrive, so that publishing
 * it needs no second pass over the file.
 *
 * A chunk is fed from memory, right when its own hash has been checked, if it is the next one
 * in order (with one peer nearly every chunk is). One that arrives early is not kept in memory:
 * once it and every chunk before it are on disk, they are read back in order. An object resumed
 * from disk is read back the same way from its start.
 *
 * Why feeding verified bytes is as good as hashing the file at the end: each chunk fed matched
 * its own hash in the object's chunk list, and every chunk written matched the same hash, so
 * the file holds exactly the bytes hashed. What this no longer catches is a disk that changes
 * bytes after they were written; fsck (reverify) is there for that.
 */
export class InOrderObjectHash {
  readonly #hash = createHash('sha256')
  readonly #chunkCount: number
  #nextChunk = 0
  #reading: Promise<void> | undefined
  #digest: string | undefined

  constructor(
    private readonly spec: ChunkedObjectSpec,
    private readonly data: FileHandle,
    /** true once chunk `index` is written to `data` and may be read back */
    private readonly onDisk: (index: number) => boolean,
  ) {
    this.#chunkCount = spec.chunkSha256.length
  }

  /** Chunks hashed so far: 0 … hashedChunks-1. */
  get hashedChunks(): number {
    return this.#nextChunk
  }

  /**
   * Chunk `index`, already verified, as it arrived. Taken if it is the next one in order and no
   * read-back is running (which may be reading that very chunk); otherwise it is left to a
   * read-back once it is on disk. Returns whether it was taken.
   */
  offer(index: number, pieces: readonly Uint8Array[]): boolean {
    if (index !== this.#nextChunk || this.#reading !== undefined || this.#digest !== undefined) {
      return false
    }
    for (const piece of pieces) this.#hash.update(piece)
    this.#nextChunk++
    return true
  }

  /**
   * Reads back, in order, the chunks on disk that follow the ones hashed; one read-back at a
   * time. Rejects when the file cannot be read (the next call tries again from where it stopped).
   */
  catchUp(): Promise<void> {
    if (this.#reading === undefined && !this.#behind()) return Promise.resolve()
    this.#reading ??= this.#readBack().finally(() => {
      this.#reading = undefined
    })
    return this.#reading
  }

  /** Resolves when no read-back is running (whether or not the last one failed). */
  async idle(): Promise<void> {
    await this.#reading?.catch(() => undefined)
  }

  /**
   * The whole object's sha256 hex, once every chunk is on disk: reads back what offer() did
   * not see. Only once: the hash is finished.
   */
  async digest(): Promise<string> {
    if (this.#digest !== undefined) return this.#digest
    while (this.#behind()) await this.catchUp()
    if (this.#nextChunk < this.#chunkCount) {
      throw new Error(
        `object ${this.spec.sha256}: whole hash asked for with chunk ${this.#nextChunk} missing`,
      )
    }
    this.#digest = this.#hash.digest('hex')
    return this.#digest
  }

  /** The next chunk to hash is on disk already. */
  #behind(): boolean {
    return this.#nextChunk < this.#chunkCount && this.onDisk(this.#nextChunk)
  }

  async #readBack(): Promise<void> {
    const { size, chunkBytes } = this.spec
    // one buffer for the whole run: with chunks landing in random order most of an object may
    // be read back, and a fresh buffer per chunk would only be garbage for V8 to collect
    let buffer: Buffer | undefined
    while (this.#behind()) {
      const index = this.#nextChunk
      const length = chunkLengthOf(size, chunkBytes, index)
      buffer ??= Buffer.allocUnsafe(Math.max(1, chunkBytes))
      // the whole chunk is read before any of it is hashed: a failed read leaves the hash clean
      const bytes = await readInto(this.data, buffer, index * chunkBytes, length)
      if (bytes.byteLength !== length) {
        throw new Error(`object ${this.spec.sha256}: chunk ${index} is short on disk`)
      }
      this.#hash.update(bytes)
      this.#nextChunk++
    }
  }
}
