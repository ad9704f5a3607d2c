import type { FileHandle } from 'node:fs/promises'

/** Complete objects kept open for reading at once. */
export const MAX_OPEN_OBJECTS = 16

interface Entry {
  opening: Promise<{ handle: FileHandle; size: number }>
  users: number
  /** dropped from the cache: closed as soon as its last reader is done */
  evicted: boolean
}

/**
 * Read handles on complete objects, kept open across reads: a peer fetching an object asks for
 * it chunk by chunk, and an open, fstat and close around every 1 MiB read cost the event loop
 * more than the read. Bounded (least recently used goes first); a handle is closed once it is
 * evicted and no read is using it. Objects never change once complete, so a kept handle reads
 * what a fresh one would; an object that is removed must be evicted (`forget`).
 */
export class ReadHandles {
  readonly #entries = new Map<string, Entry>()

  constructor(
    private readonly openObject: (sha256: string) => Promise<FileHandle>,
    private readonly maxOpen = MAX_OPEN_OBJECTS,
  ) {}

  /** Number of objects with a handle kept or being opened. */
  get size(): number {
    return this.#entries.size
  }

  /** Runs `read` with a handle on the object and its size; errors of opening propagate. */
  async use<T>(sha256: string, read: (handle: FileHandle, size: number) => Promise<T>): Promise<T> {
    let entry = this.#entries.get(sha256)
    if (entry === undefined) {
      entry = { opening: this.#open(sha256), users: 0, evicted: false }
      this.#entries.set(sha256, entry)
      this.#trim()
    } else {
      // most recently used last
      this.#entries.delete(sha256)
      this.#entries.set(sha256, entry)
    }
    entry.users++
    try {
      const { handle, size } = await entry.opening
      return await read(handle, size)
    } catch (err) {
      // a failed open is not kept: the next read tries again
      if (this.#entries.get(sha256) === entry) this.#evict(sha256, entry)
      throw err
    } finally {
      entry.users--
      if (entry.evicted && entry.users === 0) await closeQuietly(entry)
    }
  }

  /** Drops an object's handle (it was removed or quarantined); closed when its reads finish. */
  async forget(sha256: string): Promise<void> {
    const entry = this.#entries.get(sha256)
    if (entry !== undefined) await this.#evict(sha256, entry)
  }

  /** Drops every handle; each is closed when its reads finish. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#entries].map(([sha256, entry]) => this.#evict(sha256, entry)))
  }

  async #open(sha256: string): Promise<{ handle: FileHandle; size: number }> {
    const handle = await this.openObject(sha256)
    try {
      return { handle, size: (await handle.stat()).size }
    } catch (err) {
      await handle.close()
      throw err
    }
  }

  #trim(): void {
    for (const [sha256, entry] of this.#entries) {
      if (this.#entries.size <= this.maxOpen) return
      void this.#evict(sha256, entry)
    }
  }

  async #evict(sha256: string, entry: Entry): Promise<void> {
    if (this.#entries.get(sha256) === entry) this.#entries.delete(sha256)
    if (entry.evicted) return
    entry.evicted = true
    if (entry.users === 0) await closeQuietly(entry)
  }
}

async function closeQuietly(entry: Entry): Promise<void> {
  try {
    const { handle } = await entry.opening
    await handle.close()
  } catch {
    // never opened, or already closed: nothing to let go of
  }
}
