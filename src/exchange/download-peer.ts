import { bitmapBytes, hasBit, setBit } from './bitmap.js'
import type { BanReason, ChunkFetcher } from './download-types.js'
import { RateEstimate } from './rate-estimate.js'

/**
 * A peer is asked for about this much time's worth of chunks at once (at its observed rate):
 * enough to keep a fast peer busy, while a slow or crowded one gets few requests, so answers
 * stay well inside their timeouts and the rest goes to other peers.
 */
const TARGET_QUEUE_MS = 2000
/**
 * …but never fewer than this: one request waits at the peer while the one before is sent, so
 * its upload does not idle for the time a request takes to reach it (seconds on a loaded link,
 * where the request queues behind this device's own uploads).
 */
const MIN_QUEUED_REQUESTS = 2
/** A peer that answered "busy" is left alone this long at first… */
const BUSY_FIRST_MS = 100
/** …doubling with every further "busy" up to this, until it delivers a chunk. */
const BUSY_MAX_MS = 800

/** What one download knows about one peer. Chunk positions are global (over all objects). */
export class DownloadPeer {
  fetcher: ChunkFetcher | undefined
  /** which chunks the peer holds, by global index */
  readonly have: Uint8Array
  /** requests outstanding (answered ones count until their chunk is written) */
  inFlight = 0
  inFlightBytes = 0
  /** in-flight limit after timeouts: drops to 1 after one and grows back with each good chunk */
  #timeoutCap: number
  bytesReceived = 0
  consecutiveTimeouts = 0
  banned: BanReason | undefined
  /** chunks this peer timed out on or failed: asked of it again only when nobody else can help */
  readonly avoid = new Set<number>()
  /** chunk → performance.now() until which this peer is not asked for it (it said "elsewhere") */
  readonly #deferred = new Map<number, number>()
  readonly #rate = new RateEstimate()
  #lastTimeoutAt = -Infinity
  /**
   * Upper bound on the rate learnt from requests that took longer than expected, until data
   * arrives: a crowded seed that has delivered nothing yet must not be judged by the initial guess.
   */
  #rateCeiling = Infinity
  /** performance.now() of the last bytes seen on the chunk stream from this peer */
  lastTrafficAt = -Infinity
  /** performance.now() until which the peer said it is busy: asked nothing before then */
  busyUntil = 0
  #busyBackoffMs = BUSY_FIRST_MS

  constructor(
    readonly id: string,
    totalChunks: number,
    readonly maxCap: number,
    private readonly chunkBytes: number,
    private readonly initialRateBytesPerSecond: number,
  ) {
    this.have = new Uint8Array(bitmapBytes(totalChunks))
    this.#timeoutCap = maxCap
  }

  /** Requests this peer may have in flight now. */
  get cap(): number {
    const byRate = Math.ceil(
      (this.rate(this.initialRateBytesPerSecond) * TARGET_QUEUE_MS) / 1000 / this.chunkBytes,
    )
    return Math.min(this.maxCap, this.#timeoutCap, Math.max(MIN_QUEUED_REQUESTS, byRate))
  }

  get usable(): boolean {
    return this.banned === undefined && this.fetcher !== undefined
  }

  /** Requests that may be sent to this peer at `now`. */
  freeSlots(now: number): number {
    if (!this.usable || now < this.busyUntil) return 0
    return Math.max(0, this.cap - this.inFlight)
  }

  /** The peer answered "busy" at `now`: leave it alone for a while, longer each time in a row. */
  noteBusy(now: number): void {
    this.busyUntil = now + this.#busyBackoffMs
    this.#busyBackoffMs = Math.min(BUSY_MAX_MS, 2 * this.#busyBackoffMs)
  }

  /** The peer sent this chunk's copy to someone else: ask them, and this peer not before `until`. */
  defer(globalIndex: number, until: number): void {
    this.#deferred.set(globalIndex, until)
  }

  /** Whether the peer asked not to be asked for this chunk before some time after `now`. */
  isDeferred(globalIndex: number, now: number): boolean {
    const until = this.#deferred.get(globalIndex)
    if (until === undefined) return false
    if (until > now) return true
    this.#deferred.delete(globalIndex)
    return false
  }

  /** When the earliest deferral still running at `now` ends; undefined when none is. */
  nextDeferralEnd(now: number): number | undefined {
    let earliest: number | undefined
    for (const [globalIndex, until] of this.#deferred) {
      if (until <= now) this.#deferred.delete(globalIndex)
      else if (earliest === undefined || until < earliest) earliest = until
    }
    return earliest
  }

  holds(globalIndex: number): boolean {
    return hasBit(this.have, globalIndex)
  }

  /** Marks a chunk held; true when it was not known before. */
  learn(globalIndex: number): boolean {
    if (hasBit(this.have, globalIndex)) return false
    setBit(this.have, globalIndex)
    return true
  }

  /** Forgets a chunk (the peer said it lacks it); true when it was known. */
  forget(globalIndex: number): boolean {
    if (!hasBit(this.have, globalIndex)) return false
    const byte = globalIndex >> 3
    this.have[byte] = (this.have[byte] ?? 0) & ~(1 << (globalIndex & 7))
    return true
  }

  /** A request of `bytes` was sent at `now`. */
  begin(bytes: number, now: number): void {
    this.#rate.begin(now)
    this.inFlight++
    this.inFlightBytes += bytes
  }

  /** A request of `bytes` is over (answered and written, failed or cancelled) at `now`. */
  end(bytes: number, now: number): void {
    this.#rate.end(now)
    this.inFlight--
    this.inFlightBytes -= bytes
  }

  /** `bytes` arrived from the peer at `now`. */
  noteData(bytes: number, now: number): void {
    this.#rate.add(bytes, now)
    this.bytesReceived += bytes
    // a peer that delivers is slow at worst, not stalled: the measured rate takes over
    this.#rateCeiling = Infinity
    this.consecutiveTimeouts = 0
    this.#busyBackoffMs = BUSY_FIRST_MS
  }

  /**
   * Bytes per second this peer delivers while asked (the initial guess before it has), never more
   * than a request that timed out since its last data showed.
   */
  rate(initialRateBytesPerSecond: number): number {
    return Math.min(this.#rate.bytesPerSecond(initialRateBytesPerSecond), this.#rateCeiling)
  }

  /**
   * A request with `queuedBytes` at this peer (its own included) was still unanswered
   * `elapsedMs` after it was asked: the peer is slower than queuedBytes per elapsedMs, so later
   * timeouts (sized to the rate) grow instead of striking again at the same too-short length.
   */
  noteSlow(queuedBytes: number, elapsedMs: number): void {
    if (elapsedMs <= 0) return
    this.#rateCeiling = Math.min(this.#rateCeiling, (queuedBytes * 1000) / elapsedMs)
  }

  /** Timeout of a request just queued behind this peer's other in-flight bytes. */
  timeoutMs(floorMs: number, factor: number, initialRateBytesPerSecond: number): number {
    const expectedMs = (this.inFlightBytes * 1000) / this.rate(initialRateBytesPerSecond)
    return Math.max(floorMs, Math.ceil(factor * expectedMs))
  }

  noteSuccess(): void {
    this.consecutiveTimeouts = 0
    if (this.#timeoutCap < this.maxCap) this.#timeoutCap++
  }

  /**
   * Records a timed-out request asked at `startedAt`. Requests queued behind one that timed out
   * time out with it: only a request asked after the previous timeout counts as a new strike, so
   * consecutiveTimeouts counts the times the peer failed even with a single request in flight.
   */
  noteTimeout(globalIndex: number, startedAt: number, queuedBytes: number, now: number): void {
    this.avoid.add(globalIndex)
    this.#timeoutCap = 1
    this.noteSlow(queuedBytes, now - startedAt)
    if (startedAt < this.#lastTimeoutAt) return
    this.#lastTimeoutAt = now
    this.consecutiveTimeouts++
  }
}
