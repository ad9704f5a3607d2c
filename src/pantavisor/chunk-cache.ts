/**
 * Verified chunks read from pv-ctrl, bounded in bytes, in two tiers: chunks a
 * pass read on its way that nobody has asked for yet (`ahead`) and chunks
 * already handed out once (`served`). Downloaders ask in random order and each
 * asks for a chunk once, so a chunk nobody has asked for is worth more than
 * one already served (only another downloader will want that again): served
 * chunks are evicted first, oldest first, then the oldest of the others.
 */
export class ChunkCache {
  readonly maxBytes: number
  readonly #ahead = new Map<string, Uint8Array>()
  readonly #served = new Map<string, Uint8Array>()
  #aheadBytes = 0
  #servedBytes = 0

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`cacheBytes: expected a non-negative integer, got ${maxBytes}`)
    }
    this.maxBytes = maxBytes
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#aheadBytes + this.#servedBytes
  }

  has(key: string): boolean {
    return this.#ahead.has(key) || this.#served.has(key)
  }

  /** A chunk for a request; it moves to the served tier as its newest entry. */
  take(key: string): Uint8Array | undefined {
    const ahead = this.#ahead.get(key)
    if (ahead !== undefined) {
      this.#ahead.delete(key)
      this.#aheadBytes -= ahead.byteLength
      this.#served.set(key, ahead)
      this.#servedBytes += ahead.byteLength
      return ahead
    }
    const served = this.#served.get(key)
    if (served !== undefined) {
      this.#served.delete(key)
      this.#served.set(key, served)
    }
    return served
  }

  /** True when a chunk of `length` nobody asked for would fit by evicting served chunks only. */
  fitsAhead(length: number): boolean {
    return this.#aheadBytes + length <= this.maxBytes
  }

  /**
   * Keeps a chunk nobody has asked for yet. With `displace`, the oldest such
   * chunks make room when served ones are not enough (a chunk passed on the
   * way to a request is as likely to be asked for as any older one); without,
   * it is kept only if served chunks alone make room (read-ahead never pushes
   * out what an earlier pass kept).
   */
  addAhead(key: string, bytes: Uint8Array, displace: boolean): boolean {
    if (this.has(key) || bytes.byteLength > this.maxBytes) return false
    if (!displace && !this.fitsAhead(bytes.byteLength)) return false
    this.#makeRoom(bytes.byteLength, displace)
    this.#ahead.set(key, bytes)
    this.#aheadBytes += bytes.byteLength
    return true
  }

  /** Keeps a chunk just handed out, if served chunks alone make room for it. */
  addServed(key: string, bytes: Uint8Array): boolean {
    if (this.has(key) || this.#aheadBytes + bytes.byteLength > this.maxBytes) return false
    this.#makeRoom(bytes.byteLength, false)
    this.#served.set(key, bytes)
    this.#servedBytes += bytes.byteLength
    return true
  }

  /** Forgets every chunk whose key starts with `prefix` (one object's). */
  dropPrefix(prefix: string): void {
    for (const [key, bytes] of this.#ahead) {
      if (!key.startsWith(prefix)) continue
      this.#ahead.delete(key)
      this.#aheadBytes -= bytes.byteLength
    }
    for (const [key, bytes] of this.#served) {
      if (!key.startsWith(prefix)) continue
      this.#served.delete(key)
      this.#servedBytes -= bytes.byteLength
    }
  }

  clear(): void {
    this.#ahead.clear()
    this.#served.clear()
    this.#aheadBytes = 0
    this.#servedBytes = 0
  }

  #makeRoom(length: number, displaceAhead: boolean): void {
    while (this.bytes + length > this.maxBytes && this.#evictOldest(this.#served, 'served')) {}
    if (!displaceAhead) return
    while (this.bytes + length > this.maxBytes && this.#evictOldest(this.#ahead, 'ahead')) {}
  }

  #evictOldest(tier: Map<string, Uint8Array>, which: 'ahead' | 'served'): boolean {
    const oldest = tier.entries().next()
    if (oldest.done === true) return false
    const [key, bytes] = oldest.value
    tier.delete(key)
    if (which === 'ahead') this.#aheadBytes -= bytes.byteLength
    else this.#servedBytes -= bytes.byteLength
    return true
  }
}
