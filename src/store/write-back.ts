import type { FileHandle } from 'node:fs/promises'

/**
 * Bytes written to a partial between two write-backs started while it fills: 16 MiB. The final
 * fsync before publishing then has at most this much left to put on disk instead of the whole
 * object (measured on this project's build machine: 70-95 ms for the fsync of a 256 MiB object
 * written in ~1.7 s, the last thing its download waited for).
 */
export const WRITE_BACK_BYTES = 16 * 1024 * 1024

/**
 * Starts flushing a file's written bytes to disk while more are still being written, one
 * fdatasync at a time on libuv's pool, so the fsync that makes the file durable finds little
 * left to do. Nothing is decided on these early flushes: durability is still the final fsync's.
 *
 * A failed early flush is kept and thrown by `settle`: Linux reports a write-back error to the
 * first fsync that follows it on the file, so a failure seen here would otherwise be missed by
 * the final fsync.
 */
export class WriteBack {
  #unflushedBytes = 0
  #running: Promise<void> | undefined
  #error: Error | undefined

  constructor(
    private readonly file: FileHandle,
    private readonly thresholdBytes = WRITE_BACK_BYTES,
  ) {}

  /** `bytes` more were written to the file. */
  wrote(bytes: number): void {
    this.#unflushedBytes += bytes
    if (this.#unflushedBytes < this.thresholdBytes || this.#running !== undefined) return
    this.#unflushedBytes = 0
    this.#running = this.file
      .datasync()
      .catch((err: Error) => {
        this.#error ??= err
      })
      .finally(() => {
        this.#running = undefined
      })
  }

  /** Waits for an early flush still running; throws the first one that failed. */
  async settle(): Promise<void> {
    await this.#running
    if (this.#error !== undefined) throw this.#error
  }
}
