import { setTimeout as delay } from 'node:timers/promises'

/** How much a rate-capped uploader may send at once after being idle, as time at full rate. */
const BURST_MS = 250

/**
 * A waiting request older than this goes before any better-ranked one: ranking must not starve a
 * request until its asker gives up on it.
 */
const MAX_RANKED_WAIT_MS = 2000

interface Waiter {
  rank: () => number
  since: number
  wake: () => void
}

/**
 * Upload politeness shared by every chunk served: at most `maxConcurrent` requests served at a
 * time, at most `maxWaiting` more waiting for a slot (beyond that an asker hears "busy" and asks
 * another peer), and, when `rateBytesPerSecond` > 0, a token bucket on the bytes sent.
 *
 * Few uploads at a time, each at a large share of the link, put a chunk in its receiver's hands
 * soonest, so the receiver can pass it on; many at once would finish all of them late together.
 * A free slot goes to the waiting request of lowest rank (the caller ranks a chunk by how often it
 * has served it): a seed then hands out every chunk once before it sends any a second time.
 */
export class UploadLimiter {
  readonly maxConcurrent: number
  readonly maxWaiting: number
  readonly rateBytesPerSecond: number
  readonly #waiting: Waiter[] = []
  #active = 0
  #peak = 0
  #tokens: number
  #refilledAt = performance.now()

  constructor(maxConcurrent: number, rateBytesPerSecond: number, maxWaiting = maxConcurrent) {
    if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrentUploads: expected an integer >= 1, got ${maxConcurrent}`)
    }
    if (!Number.isSafeInteger(maxWaiting) || maxWaiting < 0) {
      throw new RangeError(`maxWaitingUploads: expected an integer >= 0, got ${maxWaiting}`)
    }
    if (!(rateBytesPerSecond >= 0)) {
      throw new RangeError(`uploadRateBytesPerSecond: expected >= 0, got ${rateBytesPerSecond}`)
    }
    this.maxConcurrent = maxConcurrent
    this.maxWaiting = maxWaiting
    this.rateBytesPerSecond = rateBytesPerSecond
    this.#tokens = this.#capacity()
  }

  /** Requests being served right now. */
  get active(): number {
    return this.#active
  }

  /** Most requests ever served at once. */
  get peak(): number {
    return this.#peak
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * A serving slot, at once or after a wait; undefined when every slot is taken and the wait list
   * is full (the request should be refused as busy). The returned function gives the slot back.
   * `rank` is asked each time a slot frees, so it may change while the request waits.
   */
  acquire(rank: () => number = () => 0, signal?: AbortSignal): Promise<() => void> | undefined {
    if (signal?.aborted) return Promise.reject(signal.reason as Error)
    if (this.#active < this.maxConcurrent) {
      this.#take()
      return Promise.resolve(this.#releaser())
    }
    if (this.#waiting.length >= this.maxWaiting) return undefined
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        rank,
        since: performance.now(),
        wake: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve(this.#releaser())
        },
      }
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(waiter)
        if (at >= 0) this.#waiting.splice(at, 1)
        reject(signal?.reason as Error)
      }
      this.#waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Waits until `bytes` may be sent under the rate cap (at once when there is none), then counts
   * them as sent. A chunk larger than the bucket goes out whole once the bucket is out of debt,
   * and those who send after it wait until its bytes are paid for: the cap holds on average
   * while the chunk that got its turn is never held back. A wait aborted by `signal` counts
   * nothing, so a request cancelled while it waits costs the other uploads no time.
   */
  async throttle(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.rateBytesPerSecond === 0) return
    for (;;) {
      signal?.throwIfAborted()
      const now = performance.now()
      const refill = ((now - this.#refilledAt) * this.rateBytesPerSecond) / 1000
      this.#tokens = Math.min(this.#capacity(), this.#tokens + refill)
      this.#refilledAt = now
      if (this.#tokens >= 0) {
        this.#tokens -= bytes
        return
      }
      // another waiter may be woken by the same refill and spend it first: look again after. The
      // timer does not keep the process alive: a stopped daemon must not linger for an upload
      await delay((-this.#tokens / this.rateBytesPerSecond) * 1000, undefined, {
        ref: false,
        ...(signal !== undefined && { signal }),
      }).catch((err: unknown) => {
        throw signal?.aborted === true ? (signal.reason as Error) : err
      })
    }
  }

  #take(): void {
    this.#active++
    this.#peak = Math.max(this.#peak, this.#active)
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      this.#active--
      const next = this.#next()
      if (next === undefined) return
      this.#take()
      next.wake()
    }
  }

  /** Takes the waiter to serve next out of the wait list. */
  #next(): Waiter | undefined {
    if (this.#waiting.length === 0) return undefined
    const now = performance.now()
    let best = 0
    let bestRank = Infinity
    for (let i = 0; i < this.#waiting.length; i++) {
      const waiter = this.#waiting[i]!
      // the list is in arrival order: the first overdue one is the oldest
      if (now - waiter.since > MAX_RANKED_WAIT_MS) {
        best = i
        break
      }
      const rank = waiter.rank()
      if (rank < bestRank) {
        bestRank = rank
        best = i
      }
    }
    return this.#waiting.splice(best, 1)[0]
  }

  #capacity(): number {
    return (this.rateBytesPerSecond * BURST_MS) / 1000
  }
}
