import { EventEmitter } from 'node:events'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import { pino, type Logger } from 'pino'
import { CLONE_MESSAGE, type CloneSuspicion } from './clone.js'
import { PeerDialer } from './dialer.js'
import { Liveness, type LivenessOptions } from './liveness.js'
import { MdnsDiscovery, type MdnsOptions } from './mdns.js'
import { parseStaticPeers, StaticPeers } from './static-peers.js'

/** The libp2p node discovery works on: any libp2p with the ping service. */
export type DiscoveryLibp2p = Libp2p<{ ping: Ping }>

export interface DiscoveryOptions {
  /** mDNS on the LAN; `false` turns it off, an object tunes it. @default true */
  mdns?: boolean | MdnsOptions
  /** Multiaddrs ending in `/p2p/<peer id>`, dialled at start and redialled whenever they drop. @default [] */
  staticPeers?: string[]
  /** Ping-based liveness; `false` turns it off. @default {} (see LIVENESS_DEFAULTS) */
  liveness?: false | LivenessOptions
  /** Peers found by mDNS are not dialled while this many connections are open. @default Infinity */
  maxConnections?: number
  /** Structured log. @default silent */
  logger?: Logger
}

export interface PeerEvent {
  peerId: PeerId
}

export interface PeerDiscoveredEvent extends PeerEvent {
  /** Addresses the source gave, without /p2p. */
  multiaddrs: Multiaddr[]
  source: 'mdns' | 'static'
}

export interface PeerUnresponsiveEvent extends PeerEvent {
  missedPings: number
}

/** Events of the discovery service, for other rooms to subscribe to with `on`. */
export type DiscoveryEvents = {
  /** A peer was found (it is dialled next unless already connected). */
  'peer:discovered': [event: PeerDiscoveredEvent]
  /** The first connection to a peer opened. */
  'peer:connected': [event: PeerEvent]
  /** The last connection to a peer closed, for whatever reason. */
  'peer:disconnected': [event: PeerEvent]
  /** A peer missed its pings and is being hung up on ('peer:disconnected' follows). */
  'peer:unresponsive': [event: PeerUnresponsiveEvent]
  /** Another device appears to use this node's identity. */
  'clone:suspected': [suspicion: CloneSuspicion]
}

/**
 * Finds peers and keeps the connections to them honest: mDNS on the LAN,
 * static peers, dialling what was found (libp2p only records it), and
 * dropping peers that stop answering pings.
 *
 * Construct after the libp2p node; `start()` after libp2p has started (mDNS
 * announces the addresses libp2p listens on), `stop()` before libp2p stops.
 */
export class PeerDiscoveryService extends EventEmitter<DiscoveryEvents> {
  readonly #libp2p: DiscoveryLibp2p
  readonly #logger: Logger
  readonly #dialer: PeerDialer
  readonly #staticPeers: StaticPeers
  readonly #liveness?: Liveness
  readonly #mdnsOptions?: MdnsOptions
  readonly #clonesSeenAt = new Set<string>()
  #mdns?: MdnsDiscovery
  #mdnsStarted = false
  #cloneSuspected?: CloneSuspicion
  #running = false

  /**
   * @throws InvalidStaticPeerError for a static peer entry without /p2p/<id>
   * @throws DiscoveryOptionsError for out-of-range timing options
   */
  constructor(libp2p: DiscoveryLibp2p, options: DiscoveryOptions = {}) {
    super()
    this.#libp2p = libp2p
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ room: 'discovery' })
    this.#dialer = new PeerDialer(libp2p, this.#logger, options.maxConnections ?? Infinity)
    this.#staticPeers = new StaticPeers(
      libp2p,
      parseStaticPeers(options.staticPeers ?? []),
      this.#logger,
      {
        discovered: peer => this.emit('peer:discovered', { ...peer, source: 'static' }),
        cloneSuspected: suspicion => this.#suspectClone(suspicion),
      },
    )
    if (options.liveness !== false) {
      this.#liveness = new Liveness(
        libp2p,
        options.liveness ?? {},
        this.#logger,
        (peerId, missedPings) => this.emit('peer:unresponsive', { peerId, missedPings }),
      )
    }
    const mdns = options.mdns ?? true
    if (mdns !== false) {
      this.#mdnsOptions = mdns === true ? {} : mdns
      // Built now so bad options fail at construction, not at start.
      this.#mdns = this.#createMdns(this.#mdnsOptions)
    }
  }

  /** The first sign that another device uses this identity, if any was seen. */
  get cloneSuspected(): CloneSuspicion | undefined {
    return this.#cloneSuspected
  }

  /** True while mDNS sockets are open (false when disabled or when the port could not be bound). */
  get mdnsActive(): boolean {
    return this.#mdnsStarted
  }

  /**
   * Tells liveness that `peer` was just heard from (any protocol traffic), so a ping stuck behind
   * chunk data on a loaded link does not get a live peer hung up on.
   */
  noteActivity(peer: string): void {
    this.#liveness?.noteActivity(peer)
  }

  async start(): Promise<void> {
    if (this.#running) {
      return
    }
    this.#running = true
    this.#libp2p.addEventListener('peer:connect', this.#onConnect)
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#dialer.start()

    if (this.#mdns != null) {
      try {
        await this.#mdns.start()
        this.#mdnsStarted = true
      } catch (err) {
        this.#logger.error(
          { err },
          'mDNS unavailable; discovery continues with static peers and the DHT',
        )
      }
    }
    await this.#staticPeers.start()
    this.#liveness?.start()
    this.#logger.info(
      { mdns: this.#mdnsStarted, liveness: this.#liveness != null },
      'peer discovery started',
    )
  }

  async stop(): Promise<void> {
    if (!this.#running) {
      return
    }
    this.#running = false
    this.#liveness?.stop()
    this.#staticPeers.stop()
    await this.#mdns?.stop()
    this.#mdnsStarted = false
    this.#dialer.stop()
    this.#libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
  }

  #createMdns(options: MdnsOptions): MdnsDiscovery {
    const mdns = new MdnsDiscovery(
      {
        peerId: this.#libp2p.peerId.toString(),
        addresses: () => this.#libp2p.getMultiaddrs(),
        logger: this.#logger,
      },
      options,
    )
    mdns.on('peer', peer => {
      const peerId = peerIdFromString(peer.peerId)
      // Every query draws the same answers again: only a peer we are not
      // connected to is news.
      if (this.#libp2p.getConnections(peerId).length > 0) {
        return
      }
      this.emit('peer:discovered', { peerId, multiaddrs: peer.multiaddrs, source: 'mdns' })
      void this.#dialer.dial(peerId, peer.multiaddrs, 'mdns')
    })
    mdns.on('clone', (peer, from) => {
      this.#suspectClone({
        via: 'mdns',
        remoteAddress: from.address,
        multiaddrs: peer.multiaddrs.map(ma => ma.toString()),
        detectedAt: new Date(),
      })
    })
    return mdns
  }

  #suspectClone(suspicion: CloneSuspicion): void {
    // mDNS repeats itself every query; say it once per place it was seen.
    const key = `${suspicion.via} ${suspicion.remoteAddress}`
    if (this.#clonesSeenAt.has(key)) {
      return
    }
    this.#clonesSeenAt.add(key)
    this.#cloneSuspected ??= suspicion
    this.#logger.error(
      {
        peer: this.#libp2p.peerId.toString(),
        via: suspicion.via,
        remoteAddress: suspicion.remoteAddress,
        multiaddrs: suspicion.multiaddrs,
      },
      CLONE_MESSAGE,
    )
    this.emit('clone:suspected', suspicion)
  }

  readonly #onConnect = (event: CustomEvent<PeerId>): void => {
    this.#logger.debug({ peer: event.detail.toString() }, 'peer connected')
    this.emit('peer:connected', { peerId: event.detail })
  }

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    this.#logger.debug({ peer: event.detail.toString() }, 'peer disconnected')
    this.emit('peer:disconnected', { peerId: event.detail })
  }
}
