import { Slots } from '../util/slots.js'

/** How much a rate-capped uploader may send at once after being idle, as time at full rate. */
const BURST_MS = 250

/**
 * Upload politeness shared by every chunk served: at most `maxConcurrent` requests served at a
 * time (FIFO), and, when `rateBytesPerSecond` > 0, a token bucket on the bytes sent.
 */
export class UploadLimiter {
  readonly #slots: Slots
  #tokens: number
  #refilledAt = performance.now()

  constructor(
    readonly maxConcurrent: number,
    readonly rateBytesPerSecond: number,
  ) {
    this.#slots = new Slots(maxConcurrent, 'maxConcurrentUploads')
    if (!(rateBytesPerSecond >= 0)) {
      throw new RangeError(`uploadRateBytesPerSecond: expected >= 0, got ${rateBytesPerSecond}`)
    }
    this.#tokens = this.#capacity()
  }

  /** Requests being served right now. */
  get active(): number {
    return this.#slots.active
  }

  /** Most requests ever served at once. */
  get peak(): number {
    return this.#slots.peak
  }

  /** Waits for a serving slot; the returned function gives it back (call it exactly once). */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return this.#slots.acquire(signal)
  }

  /** Waits until `bytes` may be sent under the rate cap (returns at once when there is none). */
  async throttle(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.rateBytesPerSecond === 0) return
    const now = performance.now()
    const refill = ((now - this.#refilledAt) * this.rateBytesPerSecond) / 1000
    this.#tokens = Math.min(this.#capacity(), this.#tokens + refill)
    this.#refilledAt = now
    // going into debt lets a chunk larger than the bucket through; the next sender pays for it
    this.#tokens -= bytes
    if (this.#tokens >= 0) return
    const waitMs = (-this.#tokens / this.rateBytesPerSecond) * 1000
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, waitMs)
      const onAbort = (): void => {
        clearTimeout(timer)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  #capacity(): number {
    return (this.rateBytesPerSecond * BURST_MS) / 1000
  }
}
