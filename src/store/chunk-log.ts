import { open, readFile, type FileHandle } from 'node:fs/promises'
import { FILE_MODE } from './layout.js'
import { isNotFound, writeFileAtomic } from './fs-util.js'
import { Serial } from './serial.js'

/*
 * The record of verified chunks is an append-only log of 4-byte little-endian chunk indexes,
 * one appended after each chunk's bytes are written. The swarm stores on the order of a hundred
 * chunks a second, so each record costs one small O_APPEND write and no fsync and no rename:
 * rewriting and fsyncing a whole bitmap per chunk would cost more than the chunk itself.
 *
 * The log is a hint, not a proof. After kill -9 the kernel still holds every completed write, so
 * nothing recorded is lost; after a power cut the log may be torn, stale, or ahead of the data.
 * That is harmless because a partial is only ever resumed by re-hashing each recorded chunk
 * against the hash list in its meta file (written atomically before the first chunk), so a wrong
 * record costs a re-fetch of that chunk, never a bad byte. A trailing fragment shorter than 4
 * bytes is a torn append and is ignored.
 */

const RECORD_BYTES = 4

/** Indexes recorded in a chunk log, in order, without duplicates; [] if there is no log. */
export async function readChunkLog(path: string): Promise<number[]> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if (isNotFound(err)) return []
    throw err
  }
  const seen = new Set<number>()
  const whole = bytes.length - (bytes.length % RECORD_BYTES)
  for (let offset = 0; offset < whole; offset += RECORD_BYTES) {
    seen.add(bytes.readUInt32LE(offset))
  }
  return [...seen]
}

function encode(indexes: Iterable<number>): Buffer {
  const list = [...indexes]
  const bytes = Buffer.alloc(list.length * RECORD_BYTES)
  list.forEach((index, i) => bytes.writeUInt32LE(index, i * RECORD_BYTES))
  return bytes
}

/** Replace a chunk log with exactly `indexes`, atomically. */
export async function rewriteChunkLog(
  path: string,
  tempPath: string,
  indexes: Iterable<number>,
): Promise<void> {
  await writeFileAtomic(tempPath, path, encode(indexes))
}

/** An open chunk log that appends records and can be rewritten in place while open. */
export class ChunkLog {
  readonly #serial = new Serial()

  private constructor(
    private readonly path: string,
    private handle: FileHandle | undefined,
  ) {}

  static async open(path: string): Promise<ChunkLog> {
    return new ChunkLog(path, await open(path, 'a', FILE_MODE))
  }

  /** Record chunk `index` as verified and written. */
  append(index: number): Promise<void> {
    return this.#serial.run(async () => {
      if (!this.handle) throw new Error(`chunk log ${this.path} is closed`)
      await this.handle.write(encode([index]))
    })
  }

  /** Replace the log with `indexes()` (evaluated once no append is in flight). */
  rewrite(tempPath: string, indexes: () => Iterable<number>): Promise<void> {
    return this.#serial.run(async () => {
      await this.handle?.close()
      this.handle = undefined
      try {
        await rewriteChunkLog(this.path, tempPath, indexes())
      } finally {
        // The old handle pointed at the replaced file; appends must go to the new one.
        this.handle = await open(this.path, 'a', FILE_MODE)
      }
    })
  }

  close(): Promise<void> {
    return this.#serial.run(async () => {
      await this.handle?.close()
      this.handle = undefined
    })
  }
}
