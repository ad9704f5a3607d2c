/** The estimate forgets older traffic with this time constant. */
const RATE_MEMORY_MS = 3000
/** Below this much busy time the estimate says nothing yet. */
const MIN_BUSY_MS = 10

/**
 * Bytes per second received while something was asked for: bytes and busy time (time with
 * requests outstanding) both fade with the same time constant, so idle gaps do not lower the
 * rate and pipelined bursts do not inflate it.
 */
export class RateEstimate {
  #recentBytes = 0
  #recentBusyMs = 0
  #updatedAt = 0
  #outstanding = 0

  /** A request went out at `now`. */
  begin(now: number): void {
    this.#advance(now)
    this.#outstanding++
  }

  /** A request is over (answered, failed or cancelled) at `now`. */
  end(now: number): void {
    this.#advance(now)
    this.#outstanding--
  }

  /** `bytes` arrived at `now`. */
  add(bytes: number, now: number): void {
    this.#advance(now)
    this.#recentBytes += bytes
  }

  /** The rate, or `fallback` before enough has been seen. */
  bytesPerSecond(fallback: number): number {
    if (this.#recentBusyMs < MIN_BUSY_MS || this.#recentBytes === 0) return fallback
    return (this.#recentBytes * 1000) / this.#recentBusyMs
  }

  #advance(now: number): void {
    const elapsedMs = now - this.#updatedAt
    if (elapsedMs <= 0) return
    const keep = Math.exp(-elapsedMs / RATE_MEMORY_MS)
    this.#recentBytes *= keep
    // busy time over the elapsed span, weighted by the same fading
    const busyMs = this.#outstanding > 0 ? RATE_MEMORY_MS * (1 - keep) : 0
    this.#recentBusyMs = this.#recentBusyMs * keep + busyMs
    this.#updatedAt = now
  }
}
