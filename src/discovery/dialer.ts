import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { backoffMs, type BackoffOptions, type Random } from './jitter.js'

/** Retry pacing for a discovered peer that could not be dialled. */
export const DISCOVERED_PEER_BACKOFF: BackoffOptions = { initialMs: 2_000, maxMs: 60_000 }

/**
 * Dials peers that discovery found: libp2p itself only records them. One dial
 * per peer at a time; a peer that failed is left alone for a growing,
 * jittered while, however often mDNS mentions it. Never dials this node.
 */
export class PeerDialer {
  readonly #libp2p: Libp2p
  readonly #logger: Logger
  readonly #maxConnections: number
  readonly #random: Random
  readonly #failures = new Map<string, { count: number; retryAt: number }>()
  readonly #inFlight = new Set<string>()
  #running = false

  constructor(
    libp2p: Libp2p,
    logger: Logger,
    maxConnections: number,
    random: Random = Math.random,
  ) {
    this.#libp2p = libp2p
    this.#logger = logger
    this.#maxConnections = maxConnections
    this.#random = random
  }

  start(): void {
    this.#running = true
  }

  stop(): void {
    this.#running = false
    this.#failures.clear()
  }

  /** Records the addresses and dials the peer unless there is a reason not to (returned). */
  async dial(
    peerId: PeerId,
    multiaddrs: readonly Multiaddr[],
    source: string,
  ): Promise<'dialled' | 'skipped' | 'failed'> {
    const id = peerId.toString()
    if (!this.#running || peerId.equals(this.#libp2p.peerId) || this.#inFlight.has(id)) {
      return 'skipped'
    }
    if (multiaddrs.length > 0) {
      await this.#libp2p.peerStore.merge(peerId, { multiaddrs: [...multiaddrs] })
    }
    if (this.#libp2p.getConnections(peerId).length > 0) {
      this.#failures.delete(id)
      return 'skipped'
    }
    const failure = this.#failures.get(id)
    if (failure != null && Date.now() < failure.retryAt) {
      return 'skipped'
    }
    if (this.#libp2p.getConnections().length >= this.#maxConnections) {
      this.#logger.debug({ peer: id }, 'not dialling discovered peer: connection limit reached')
      return 'skipped'
    }

    this.#inFlight.add(id)
    try {
      await this.#libp2p.dial(peerId)
      this.#failures.delete(id)
      this.#logger.debug({ peer: id, source }, 'dialled discovered peer')
      return 'dialled'
    } catch (err) {
      const count = (failure?.count ?? 0) + 1
      const delayMs = backoffMs(count - 1, DISCOVERED_PEER_BACKOFF, this.#random)
      if (this.#running) {
        this.#failures.set(id, { count, retryAt: Date.now() + delayMs })
      }
      this.#logger.debug(
        { peer: id, source, err, retryInMs: delayMs },
        'dial of discovered peer failed',
      )
      return 'failed'
    } finally {
      this.#inFlight.delete(id)
    }
  }
}
