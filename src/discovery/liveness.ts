import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Logger } from 'pino'
import { DiscoveryOptionsError, PeerUnresponsiveError } from './errors.js'

/**
 * Ping pacing. A peer that loses power or its cable sends no FIN: without
 * pings its connection would look open for minutes. Defaults notice a dead
 * peer in about 2 x intervalMs + (1 + 2 + 4) x timeoutMs ≈ 25 s.
 *
 * A ping shares the TCP connection with chunk transfers and queues behind
 * them: on a slow link under full load it can wait many seconds in the send
 * buffers of either side. So a ping counts as missed only when nothing else
 * was heard from the peer either (see `noteActivity`): traffic proves it alive
 * as well as a pong does. And each peer's ping timeout follows the round trips
 * its pongs took (as TCP sizes its retransmission timeout), doubling after
 * each miss: on a loaded 5 Mbit/s floor pongs took 0.7 s at the median and
 * up to 4 s, so a fixed 3 s hung up on healthy peers hundreds of times a run.
 */
export interface LivenessOptions {
  /** Time between two pings of one peer. @default 2_000 */
  intervalMs?: number
  /**
   * Shortest time a ping may go unanswered before it counts as missed; a peer
   * whose pongs were slow gets longer (see `maxTimeoutMs`).
   * @default 3_000
   */
  timeoutMs?: number
  /** Longest a ping is ever waited for, however slow the peer's pongs were. @default 30_000 */
  maxTimeoutMs?: number
  /**
   * Consecutive missed pings after which the peer is hung up on. A congested drop-tail link
   * stalls a quiet connection for seconds (a lost pong has no later packets to reveal its loss,
   * so it waits for TCP's retransmission timer): with 2, 16 devices on 5 Mbit/s links still hung
   * up on their seed 55 times in a run.
   * @default 3
   */
  missesBeforeHangUp?: number
  /**
   * A ping that goes unanswered is forgiven when the peer was heard from this
   * recently (any protocol traffic reported through `noteActivity`).
   * @default 10_000
   */
  activityGraceMs?: number
}

export const LIVENESS_DEFAULTS: Required<LivenessOptions> = {
  intervalMs: 2_000,
  timeoutMs: 3_000,
  maxTimeoutMs: 30_000,
  missesBeforeHangUp: 3,
  activityGraceMs: 10_000,
}

/** A peer's pong round trips, smoothed (RFC 6298's estimator, with its gains of 1/8 and 1/4). */
interface RoundTrips {
  smoothedMs: number
  variationMs: number
}

export type LivenessLibp2p = Libp2p<{ ping: Ping }>

/**
 * Pings every connected peer and hangs up on those that stop answering,
 * reporting each through `onUnresponsive` before the hang-up.
 */
export class Liveness {
  readonly #libp2p: LivenessLibp2p
  readonly #options: Required<LivenessOptions>
  readonly #logger: Logger
  readonly #onUnresponsive: (peerId: PeerId, missedPings: number) => void
  readonly #misses = new Map<string, number>()
  readonly #roundTrips = new Map<string, RoundTrips>()
  readonly #inFlight = new Map<string, AbortController>()
  /** peer id → performance.now() of the last traffic reported from it */
  readonly #heardAt = new Map<string, number>()
  #timer?: NodeJS.Timeout
  #running = false

  constructor(
    libp2p: LivenessLibp2p,
    options: LivenessOptions,
    logger: Logger,
    onUnresponsive: (peerId: PeerId, missedPings: number) => void,
  ) {
    this.#libp2p = libp2p
    this.#options = checkOptions({ ...LIVENESS_DEFAULTS, ...options })
    this.#logger = logger
    this.#onUnresponsive = onUnresponsive
  }

  start(): void {
    this.#running = true
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#scheduleRound()
  }

  stop(): void {
    this.#running = false
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    clearTimeout(this.#timer)
    for (const controller of this.#inFlight.values()) {
      controller.abort()
    }
    this.#inFlight.clear()
    this.#misses.clear()
    this.#roundTrips.clear()
    this.#heardAt.clear()
  }

  /** Something arrived from `peer` (a chunk, a request, a have-map update): it is alive. */
  noteActivity(peer: string): void {
    if (this.#running) this.#heardAt.set(peer, performance.now())
  }

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString()
    this.#misses.delete(id)
    this.#roundTrips.delete(id)
    this.#heardAt.delete(id)
  }

  #scheduleRound(): void {
    this.#timer = setTimeout(() => {
      for (const peerId of this.#libp2p.getPeers()) {
        void this.#check(peerId)
      }
      if (this.#running) {
        this.#scheduleRound()
      }
    }, this.#options.intervalMs)
  }

  async #check(peerId: PeerId): Promise<void> {
    const id = peerId.toString()
    if (this.#inFlight.has(id)) {
      return
    }
    const heardAt = this.#heardAt.get(id)
    if (heardAt !== undefined && performance.now() - heardAt < this.#options.intervalMs) {
      // it talked since the last round: no ping needed (a busy floor would ping n² times a round)
      this.#misses.delete(id)
      return
    }
    const controller = new AbortController()
    const timeoutMs = this.#timeoutFor(id)
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    this.#inFlight.set(id, controller)
    try {
      // The connection check and the ping's own connection lookup run in the
      // same tick, so a peer that just left is not dialled again by the ping.
      if (this.#libp2p.getConnections(peerId).length === 0) {
        return
      }
      const sentAt = performance.now()
      await this.#libp2p.services.ping.ping(peerId, { signal: controller.signal })
      this.#noteRoundTrip(id, performance.now() - sentAt)
      this.#misses.delete(id)
    } catch (err) {
      if (!this.#running) {
        return
      }
      if ((err as Error).name === 'UnsupportedProtocolError') {
        this.#misses.delete(id) // it negotiated, so it is alive
        return
      }
      const lastHeardAt = this.#heardAt.get(id)
      if (
        lastHeardAt !== undefined &&
        performance.now() - lastHeardAt < this.#options.activityGraceMs
      ) {
        // the pong is stuck behind chunk data, but the peer is talking
        this.#misses.delete(id)
        return
      }
      const misses = (this.#misses.get(id) ?? 0) + 1
      this.#misses.set(id, misses)
      this.#logger.debug({ peer: id, misses, timeoutMs, err }, 'ping missed')
      if (misses >= this.#options.missesBeforeHangUp) {
        this.#misses.delete(id)
        this.#logger.warn(
          { peer: id, missedPings: misses, lastTimeoutMs: timeoutMs },
          'peer stopped answering pings; hanging up',
        )
        this.#onUnresponsive(peerId, misses)
        // A graceful close would wait for an answer that will not come.
        const reason = new PeerUnresponsiveError(
          `peer ${id} missed ${misses} pings in a row, the last one after ${timeoutMs} ms`,
        )
        for (const connection of this.#libp2p.getConnections(peerId)) {
          connection.abort(reason)
        }
      }
    } finally {
      clearTimeout(timer)
      this.#inFlight.delete(id)
    }
  }

  /**
   * How long the next ping of a peer may take: four deviations above its smoothed round trip,
   * never below timeoutMs, doubled for every ping it missed in a row, never above maxTimeoutMs.
   */
  #timeoutFor(id: string): number {
    const { timeoutMs, maxTimeoutMs } = this.#options
    const trips = this.#roundTrips.get(id)
    const expected = trips === undefined ? 0 : trips.smoothedMs + 4 * trips.variationMs
    const backoff = 2 ** (this.#misses.get(id) ?? 0)
    return Math.round(Math.min(maxTimeoutMs, Math.max(timeoutMs, expected) * backoff))
  }

  #noteRoundTrip(id: string, ms: number): void {
    const trips = this.#roundTrips.get(id)
    if (trips === undefined) {
      this.#roundTrips.set(id, { smoothedMs: ms, variationMs: ms / 2 })
      return
    }
    trips.variationMs = 0.75 * trips.variationMs + 0.25 * Math.abs(trips.smoothedMs - ms)
    trips.smoothedMs = 0.875 * trips.smoothedMs + 0.125 * ms
  }
}

function checkOptions(options: Required<LivenessOptions>): Required<LivenessOptions> {
  for (const field of [
    'intervalMs',
    'timeoutMs',
    'maxTimeoutMs',
    'missesBeforeHangUp',
    'activityGraceMs',
  ] as const) {
    if (!(options[field] > 0)) {
      throw new DiscoveryOptionsError(`liveness.${field}: expected > 0, found ${options[field]}`)
    }
  }
  if (options.maxTimeoutMs < options.timeoutMs) {
    throw new DiscoveryOptionsError(
      `liveness.maxTimeoutMs: expected >= timeoutMs (${options.timeoutMs}), found ${options.maxTimeoutMs}`,
    )
  }
  return options
}
