/**
 * A counting semaphore for pv-ctrl streams, first come first served. Pantavisor
 * answers every request from its one event loop, so a few streams at a time is
 * all it should be asked for.
 */
export class StreamSlots {
  readonly max: number
  #active = 0
  readonly #waiting: Array<() => void> = []

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`maxStreams: expected an integer >= 1, got ${max}`)
    }
    this.max = max
  }

  get active(): number {
    return this.#active
  }

  /** Waits for a slot; the returned function gives it back (extra calls do nothing). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted()
    if (this.#active < this.max) this.#active++
    else {
      // the slot is handed over by release(): #active does not change in between
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
