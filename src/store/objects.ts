import { createHash } from 'node:crypto'
import { open, readdir, rename, stat, type FileHandle } from 'node:fs/promises'
import { isSha256Hex } from '../util/hex.js'
import {
  InvalidRangeError,
  NoSpaceError,
  ObjectHashMismatchError,
  ObjectNotFoundError,
  ObjectSizeMismatchError,
} from './errors.js'
import {
  fsyncDir,
  hashRange,
  IO_BUFFER_BYTES,
  isNoSpace,
  isNotFound,
  openIfExists,
  readAt,
  removeFile,
  writeAll,
} from './fs-util.js'
import { coveringChunks } from './chunks.js'
import { checkId, FILE_MODE, type Layout } from './layout.js'
import { ReadHandles } from './read-handles.js'
import type { SpaceLedger } from './space.js'

/** Complete, verified objects in objects/. Every entry got there by rename of a checked file. */
export class ObjectFiles {
  readonly #readHandles: ReadHandles

  constructor(
    private readonly layout: Layout,
    private readonly ledger: SpaceLedger,
  ) {
    this.#readHandles = new ReadHandles(sha256 => this.#open(sha256))
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.layout.object(sha256))).isFile()
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  }

  async size(sha256: string): Promise<number> {
    try {
      return (await stat(this.layout.object(sha256))).size
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(sha256)
      throw err
    }
  }

  async put(
    sha256: string,
    size: number,
    bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    checkId(sha256)
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`object ${sha256}: size ${size} is not a non-negative integer`)
    }
    if (await this.has(sha256)) {
      // Keep the copy we have; still make sure the caller's bytes were what it claimed.
      await consumeAndCheck(sha256, size, bytes)
      return
    }

    const claim = await this.ledger.claim(sha256, size)
    const temp = this.layout.tempFile(sha256.slice(0, 16))
    let handle: FileHandle | undefined
    try {
      handle = await open(temp, 'wx', FILE_MODE)
      const hash = createHash('sha256')
      let written = 0
      for await (const given of bytes) {
        if (written + given.byteLength > size) {
          throw new ObjectSizeMismatchError(sha256, size, written + given.byteLength, true)
        }
        // Our own copy: the bytes hashed are the bytes written even if the caller reuses its buffer.
        const piece = Buffer.from(given)
        hash.update(piece)
        await writeAll(handle, piece, null)
        written += piece.byteLength
        claim.setOwedBytes(size - written)
      }
      if (written !== size) throw new ObjectSizeMismatchError(sha256, size, written)
      const got = hash.digest('hex')
      if (got !== sha256) throw new ObjectHashMismatchError(sha256, got)

      await handle.sync()
      await handle.close()
      handle = undefined
      await rename(temp, this.layout.object(sha256))
      await fsyncDir(this.layout.objects)
    } catch (err) {
      await handle?.close().catch(() => undefined)
      await removeFile(temp)
      if (isNoSpace(err)) {
        throw new NoSpaceError(sha256, size, await this.ledger.freeBytes(), { cause: err })
      }
      throw err
    } finally {
      claim.release()
    }
  }

  /** Stream an object, or the bytes start…end (exclusive) of it, in bounded pieces. */
  async *read(
    sha256: string,
    range?: { start: number; end: number },
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const handle = await this.#open(sha256)
    try {
      const { size } = await handle.stat()
      const start = range?.start ?? 0
      const end = range?.end ?? size
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
        throw new InvalidRangeError(sha256, start, end, size)
      }
      if (start < 0 || end < start || end > size) {
        throw new InvalidRangeError(sha256, start, end, size)
      }
      let position = start
      while (position < end) {
        // A fresh buffer per piece: the consumer may keep what it was given.
        const piece = await readAt(handle, position, Math.min(IO_BUFFER_BYTES, end - position))
        if (piece.length === 0) throw new Error(`object ${sha256} shrank while being read`)
        yield piece
        position += piece.length
      }
    } finally {
      await handle.close()
    }
  }

  /** Chunk `index` of `chunkBytes` of a complete object; undefined if not held or past the end. */
  async readChunk(
    sha256: string,
    index: number,
    chunkBytes: number,
  ): Promise<Uint8Array | undefined> {
    try {
      return await this.#readHandles.use(sha256, async (handle, size) => {
        const cover = coveringChunks(size, chunkBytes, chunkBytes, index)
        if (!cover) return undefined
        return readAt(handle, cover.start, cover.end - cover.start)
      })
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined
      throw err
    }
  }

  /** Closes the handles kept for chunk reads (at store close). */
  async closeReadHandles(): Promise<void> {
    await this.#readHandles.closeAll()
  }

  async list(): Promise<Array<{ sha256: string; size: number }>> {
    const entries: Array<{ sha256: string; size: number }> = []
    for (const name of await readdir(this.layout.objects)) {
      if (!isSha256Hex(name)) continue
      try {
        const info = await stat(this.layout.object(name))
        if (info.isFile()) entries.push({ sha256: name, size: info.size })
      } catch (err) {
        if (!isNotFound(err)) throw err
      }
    }
    return entries.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1))
  }

  /** Remove an object if present; true if it was there. */
  async remove(sha256: string): Promise<boolean> {
    const path = this.layout.object(sha256)
    const there = await this.has(sha256)
    await removeFile(path)
    // after the unlink: a handle opened meanwhile would otherwise keep the space taken
    await this.#readHandles.forget(sha256)
    if (there) await fsyncDir(this.layout.objects)
    return there
  }

  /** Re-hash an object; one that no longer matches its id goes to quarantine/. */
  async verify(sha256: string): Promise<'good' | 'bad' | 'missing'> {
    const handle = await openIfExists(this.layout.object(sha256))
    if (!handle) return 'missing'
    let got: string
    try {
      got = await hashRange(handle, 0, (await handle.stat()).size)
    } finally {
      await handle.close()
    }
    if (got === sha256) return 'good'
    await this.quarantine(sha256)
    return 'bad'
  }

  /** Move an object to quarantine/, out of everyone's sight but kept for a post-mortem. */
  async quarantine(sha256: string): Promise<void> {
    await rename(this.layout.object(sha256), this.layout.quarantined(sha256))
    await this.#readHandles.forget(sha256)
    await fsyncDir(this.layout.quarantine)
    await fsyncDir(this.layout.objects)
  }

  async #open(sha256: string): Promise<FileHandle> {
    try {
      return await open(this.layout.object(sha256), 'r')
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(sha256)
      throw err
    }
  }
}

/** Read a stream to its end, checking its length and hash as put() would. */
async function consumeAndCheck(
  sha256: string,
  size: number,
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<void> {
  const hash = createHash('sha256')
  let count = 0
  for await (const piece of bytes) {
    count += piece.byteLength
    if (count > size) throw new ObjectSizeMismatchError(sha256, size, count, true)
    hash.update(piece)
  }
  if (count !== size) throw new ObjectSizeMismatchError(sha256, size, count)
  const got = hash.digest('hex')
  if (got !== sha256) throw new ObjectHashMismatchError(sha256, got)
}
