import type { PeerId } from '@libp2p/interface'
import { pino, type Logger } from 'pino'
import {
  PeerDiscoveryService,
  type CloneSuspicion,
  type LivenessOptions,
  type MdnsOptions,
} from '../discovery/index.js'
import { DEFAULT_MAX_CONNECTIONS } from './constants.js'
import { ListenError, SwarmNodeOptionsError } from './errors.js'
import { loadOrCreateIdentity } from './identity.js'
import { createSwarmLibp2p, type SwarmLibp2p } from './libp2p.js'

export interface SwarmNodeOptions {
  /** Directory of this device's state; the identity lives at `<dataDir>/identity.key` (0600). */
  dataDir: string
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (NAT, port forwarding). @default [] */
  announce?: string[]
  /**
   * Private-network pre-shared key in `swarm.key` form (see readFleetKey,
   * generateFleetKey): a peer without it cannot complete a connection. Costs
   * throughput on every byte (see fleetProtector). @default none
   */
  fleetKey?: Uint8Array
  /** Peer ids allowed to connect in either direction; empty or absent lets anyone in. @default [] */
  allowPeers?: string[]
  /** mDNS on the LAN; `false` turns it off, an object tunes it. @default true */
  mdns?: boolean | MdnsOptions
  /** Multiaddrs ending in `/p2p/<peer id>`, dialled at start and redialled when they drop. @default [] */
  staticPeers?: string[]
  /** Run the fleet's kad-dht (object provider records). @default true */
  dht?: boolean
  /** Open connections kept at most; discovered peers are not dialled beyond it. @default 64 */
  maxConnections?: number
  /**
   * Multiaddr prefixes (`/ip4/127.0.0.1`, `/ip4/10.0.0.0/ipcidr/8`) exempt
   * from libp2p's 5-per-second inbound limit per host and from pruning; for
   * many simulated devices on one host. @default []
   */
  allowHosts?: string[]
  /** Ping liveness of connected peers; `false` turns it off. @default {} (2 s interval, 3 s timeout growing with slow pongs, 3 misses) */
  liveness?: false | LivenessOptions
  /** Structured log. @default silent */
  logger?: Logger
}

export interface SwarmNode {
  /** The libp2p node; other rooms register their protocols on it (`libp2p.handle`). */
  readonly libp2p: SwarmLibp2p
  /** Peer discovery and its events. */
  readonly discovery: PeerDiscoveryService
  readonly peerId: PeerId
  /** Set once another device has been seen using this identity. */
  readonly cloneSuspected: CloneSuspicion | undefined
  /** Starts listening, then discovery. */
  start(): Promise<void>
  /** Stops discovery, then closes every connection and listener. Nothing is left keeping the process alive. */
  stop(): Promise<void>
}

/**
 * Loads (or creates) the device identity and builds the libp2p node with
 * discovery. Nothing listens until `start()`.
 *
 * @throws SwarmNodeOptionsError, FleetKeyError, IdentityFileError,
 *   InvalidStaticPeerError, DiscoveryOptionsError — each naming the bad value
 */
export async function createSwarmNode(options: SwarmNodeOptions): Promise<SwarmNode> {
  if (typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw new SwarmNodeOptionsError('dataDir: expected a directory path, found nothing')
  }
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ room: 'node' })
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const privateKey = await loadOrCreateIdentity(options.dataDir, { logger })

  const libp2p = await createSwarmLibp2p({
    privateKey,
    listen: options.listen,
    announce: options.announce,
    fleetKey: options.fleetKey,
    allowPeers: options.allowPeers,
    dht: options.dht,
    maxConnections,
    allowHosts: options.allowHosts,
    logger,
  })
  const discovery = new PeerDiscoveryService(libp2p, {
    mdns: options.mdns,
    staticPeers: options.staticPeers,
    liveness: options.liveness,
    maxConnections,
    logger: options.logger,
  })

  return {
    libp2p,
    discovery,
    peerId: libp2p.peerId,
    get cloneSuspected() {
      return discovery.cloneSuspected
    },
    async start() {
      try {
        await libp2p.start()
      } catch (err) {
        await Promise.resolve(libp2p.stop()).catch(() => {})
        throw listenFailure(err as Error, options.listen) ?? err
      }
      await discovery.start()
      logger.info(
        {
          peer: libp2p.peerId.toString(),
          addresses: libp2p.getMultiaddrs().map(ma => ma.toString()),
          fleetKey: options.fleetKey != null,
          allowPeers: options.allowPeers?.length ?? 0,
        },
        'swarm node started',
      )
    },
    async stop() {
      await discovery.stop()
      await libp2p.stop()
      logger.info({ peer: libp2p.peerId.toString() }, 'swarm node stopped')
    },
  }
}

const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'not an address of this host',
  EACCES: 'permission denied',
}

/**
 * libp2p reports a listen address it could not bind as one long message with the socket error
 * inside; a user needs which addresses and why, in one line.
 */
function listenFailure(err: Error, listen: readonly string[] | undefined): ListenError | undefined {
  const code = /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(err.message)?.[1]
  if (code === undefined) return undefined
  const where =
    listen === undefined || listen.length === 0 ? 'the listen address' : listen.join(', ')
  return new ListenError(`cannot listen on ${where}: ${LISTEN_FAILURES[code]}`, { cause: err })
}
