import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { isOwnAddress, type CloneSuspicion } from './clone.js'
import { InvalidStaticPeerError } from './errors.js'
import { backoffMs, type BackoffOptions, type Random } from './jitter.js'

/** Redial pacing for a static peer that is down or dropped. */
export const STATIC_PEER_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 30_000 }

/** Peer-store tag that keeps static peers' connections from being pruned first. */
const STATIC_TAG = 'pvswarm:static'

export interface StaticPeer {
  peerId: PeerId
  /** Addresses without the trailing /p2p/<id>. */
  multiaddrs: Multiaddr[]
}

/**
 * Groups `staticPeers` entries by peer id.
 *
 * @throws InvalidStaticPeerError naming the entry that is not a multiaddr with /p2p/<id>
 */
export function parseStaticPeers(entries: readonly string[]): StaticPeer[] {
  const byId = new Map<string, StaticPeer>()
  entries.forEach((entry, index) => {
    let address: Multiaddr
    try {
      address = multiaddr(entry)
    } catch (err) {
      throw new InvalidStaticPeerError(
        `staticPeers[${index}]: expected a multiaddr, found ${JSON.stringify(entry)}`,
        { cause: err },
      )
    }
    const id = address.getComponents().findLast(c => c.code === CODE_P2P)?.value
    if (id == null) {
      throw new InvalidStaticPeerError(
        `staticPeers[${index}]: expected the address to end in /p2p/<peer id>, found ${entry}`,
      )
    }
    let peerId: PeerId
    try {
      peerId = peerIdFromString(id)
    } catch (err) {
      throw new InvalidStaticPeerError(`staticPeers[${index}]: ${id} is not a peer id`, {
        cause: err,
      })
    }
    const peer = byId.get(id) ?? { peerId, multiaddrs: [] }
    peer.multiaddrs.push(address.decapsulateCode(CODE_P2P))
    byId.set(id, peer)
  })
  return [...byId.values()]
}

export interface StaticPeersEvents {
  discovered(peer: StaticPeer): void
  cloneSuspected(suspicion: CloneSuspicion): void
}

interface PeerState {
  peer: StaticPeer
  attempt: number
  timer?: NodeJS.Timeout
  dialling: boolean
}

/**
 * Keeps connections to the configured static peers (for networks that block
 * multicast): dialled at start, redialled with jittered backoff after a failed
 * dial or a dropped connection, for as long as the node runs.
 *
 * An entry naming this node's own peer id is never dialled as such. When its
 * address is one of ours it is simply this node (fleet-wide lists include
 * everyone). When it is somewhere else, that address is dialled without the
 * peer id: if the remote completes the handshake as our own id, it holds our
 * private key — a cloned identity.
 */
export class StaticPeers {
  readonly #libp2p: Libp2p
  readonly #logger: Logger
  readonly #events: StaticPeersEvents
  readonly #random: Random
  readonly #states: PeerState[]
  readonly #byId = new Map<string, PeerState>()
  readonly #selfProbes: Multiaddr[] = []
  #probeTimer?: NodeJS.Timeout
  #probeAttempt = 0
  #running = false

  constructor(
    libp2p: Libp2p,
    peers: readonly StaticPeer[],
    logger: Logger,
    events: StaticPeersEvents,
    random: Random = Math.random,
  ) {
    this.#libp2p = libp2p
    this.#logger = logger
    this.#events = events
    this.#random = random
    this.#states = []
    for (const peer of peers) {
      if (peer.peerId.equals(libp2p.peerId)) {
        this.#selfProbes.push(...peer.multiaddrs)
        continue
      }
      const state: PeerState = { peer, attempt: 0, dialling: false }
      this.#states.push(state)
      this.#byId.set(peer.peerId.toString(), state)
    }
  }

  async start(): Promise<void> {
    this.#running = true
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    for (const state of this.#states) {
      await this.#libp2p.peerStore.merge(state.peer.peerId, {
        multiaddrs: state.peer.multiaddrs,
        tags: { [STATIC_TAG]: { value: 100 } },
      })
      this.#events.discovered(state.peer)
      void this.#dial(state)
    }

    const own = this.#libp2p.getMultiaddrs()
    const elsewhere = this.#selfProbes.filter(address => !isOwnAddress(address, own))
    this.#selfProbes.length = 0
    this.#selfProbes.push(...elsewhere)
    if (elsewhere.length > 0) {
      void this.#probeSelfEntries()
    }
  }

  stop(): void {
    this.#running = false
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    clearTimeout(this.#probeTimer)
    for (const state of this.#states) {
      clearTimeout(state.timer)
      state.timer = undefined
    }
  }

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const state = this.#byId.get(event.detail.toString())
    if (state != null && this.#running) {
      this.#logger.info(
        { peer: state.peer.peerId.toString() },
        'static peer disconnected; will redial',
      )
      this.#schedule(state)
    }
  }

  #schedule(state: PeerState): void {
    if (!this.#running || state.timer != null || state.dialling) {
      return
    }
    const delayMs = backoffMs(state.attempt, STATIC_PEER_BACKOFF, this.#random)
    state.attempt++
    state.timer = setTimeout(() => {
      state.timer = undefined
      void this.#dial(state)
    }, delayMs)
  }

  async #dial(state: PeerState): Promise<void> {
    if (!this.#running || state.dialling) {
      return
    }
    const id = state.peer.peerId
    if (this.#libp2p.getConnections(id).length > 0) {
      state.attempt = 0
      return
    }
    state.dialling = true
    try {
      await this.#libp2p.dial(id)
      state.attempt = 0
      this.#logger.info({ peer: id.toString() }, 'connected to static peer')
    } catch (err) {
      // Said once per outage at warn level, then quietly on each retry.
      const level = state.attempt === 0 ? 'warn' : 'debug'
      this.#logger[level](
        { peer: id.toString(), err, attempt: state.attempt },
        'static peer dial failed',
      )
    } finally {
      state.dialling = false
    }
    // Also covers a connection that dropped while the dial was still
    // returning: its disconnect event found a dial in progress.
    if (this.#libp2p.getConnections(id).length === 0) {
      this.#schedule(state)
    }
  }

  /** Dials, without a peer id, the static addresses that name our own id but are not ours. */
  async #probeSelfEntries(): Promise<void> {
    const unanswered: Multiaddr[] = []
    for (const address of this.#selfProbes) {
      if (!this.#running) {
        return
      }
      try {
        const connection = await this.#libp2p.dial(address)
        this.#logger.warn(
          { address: address.toString(), answeredAs: connection.remotePeer.toString() },
          'static peer entry names this node, but another peer answers there',
        )
      } catch (err) {
        if ((err as Error).name === 'InvalidPeerIdError') {
          this.#events.cloneSuspected({
            via: 'static-dial',
            remoteAddress: address.toString(),
            multiaddrs: [address.toString()],
            detectedAt: new Date(),
          })
        } else {
          unanswered.push(address)
        }
      }
    }
    // Unreachable entries are probed again later: the other device may come up.
    this.#selfProbes.length = 0
    this.#selfProbes.push(...unanswered)
    if (this.#running && unanswered.length > 0) {
      const delayMs = backoffMs(this.#probeAttempt++, STATIC_PEER_BACKOFF, this.#random)
      this.#probeTimer = setTimeout(() => void this.#probeSelfEntries(), delayMs)
    }
  }
}
