/**
 * A counting semaphore, first come first served: at most `max` holders at a
 * time. A waiter can give up through its abort signal.
 */
export class Slots {
  readonly max: number
  #active = 0
  #peak = 0
  readonly #waiting: Array<() => void> = []

  constructor(max: number, what = 'slots') {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`${what}: expected an integer >= 1, got ${max}`)
    }
    this.max = max
  }

  /** Slots held right now. */
  get active(): number {
    return this.#active
  }

  /** Most slots ever held at once. */
  get peak(): number {
    return this.#peak
  }

  /** Waits for a slot; the returned function gives it back (extra calls do nothing). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted()
    if (this.#active < this.max) this.#active++
    else {
      // the slot is handed over by a release: #active does not change in between
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        const onAbort = (): void => {
          const at = this.#waiting.indexOf(wake)
          if (at >= 0) this.#waiting.splice(at, 1)
          reject(signal?.reason)
        }
        this.#waiting.push(wake)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
    this.#peak = Math.max(this.#peak, this.#active)
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      if (next !== undefined) next()
      else this.#active--
    }
  }
}
