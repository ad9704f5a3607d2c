import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import type { Libp2p, PeerInfo, PrivateKey } from '@libp2p/interface'
import { kadDHT, type KadDHT } from '@libp2p/kad-dht'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Logger } from 'pino'
import {
  DEFAULT_LISTEN,
  DEFAULT_MAX_CONNECTIONS,
  DHT_PROTOCOL,
  STREAM_READ_BUFFER_BYTES,
  STREAM_WINDOW_BYTES,
  STREAM_WRITE_BUFFER_BYTES,
  YAMUX_KEEPALIVE_MS,
} from './constants.js'
import { SwarmNodeOptionsError } from './errors.js'
import { fleetProtector } from './fleet-protector.js'
import { allowlistGater } from './gater.js'

/** Services every swarm node runs. `dht` is absent when the node was built with `dht: false`. */
export interface SwarmServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  dht?: KadDHT
}

/** The libp2p node type other rooms register protocols on. */
export type SwarmLibp2p = Libp2p<SwarmServices>

export interface SwarmLibp2pOptions {
  privateKey: PrivateKey
  listen?: string[]
  announce?: string[]
  fleetKey?: Uint8Array
  allowPeers?: string[]
  dht?: boolean
  maxConnections?: number
  allowHosts?: string[]
  logger?: Logger
}

/**
 * Builds (without starting) the libp2p node: TCP, noise, yamux sized for
 * pausing readers, identify + ping (kad-dht needs both), and a LAN kad-dht.
 *
 * @throws SwarmNodeOptionsError for a malformed multiaddr or peer id
 * @throws FleetKeyError for a malformed fleet key
 */
export async function createSwarmLibp2p(options: SwarmLibp2pOptions): Promise<SwarmLibp2p> {
  const listen = checkMultiaddrs('listen', options.listen ?? DEFAULT_LISTEN)
  const announce = checkMultiaddrs('announce', options.announce ?? [])
  const allowHosts = checkMultiaddrs('allowHosts', options.allowHosts ?? [])
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new SwarmNodeOptionsError(
      `maxConnections: expected a positive integer, found ${String(maxConnections)}`,
    )
  }

  const services: Record<string, (components: any) => unknown> = {
    identify: identify(),
    ping: ping(),
  }
  if (options.dht !== false) {
    services.dht = kadDHT({
      protocol: DHT_PROTOCOL,
      // The default is client mode until libp2p sees a public address, which
      // never happens on an isolated LAN: every node would only ask, none answer.
      clientMode: false,
      peerInfoMapper: keepEveryAddress,
    })
  }

  return (await createLibp2p({
    privateKey: options.privateKey,
    start: false,
    nodeInfo: { name: 'pvswarm' },
    addresses: { listen, announce },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        keepAliveInterval: YAMUX_KEEPALIVE_MS,
        streamOptions: {
          maxStreamWindowSize: STREAM_WINDOW_BYTES,
          maxReadBufferLength: STREAM_READ_BUFFER_BYTES,
          maxWriteBufferLength: STREAM_WRITE_BUFFER_BYTES,
        },
      }),
    ],
    ...(options.fleetKey == null ? {} : { connectionProtector: fleetProtector(options.fleetKey) }),
    connectionGater: allowlistGater(options.allowPeers ?? [], options.logger),
    connectionManager: {
      maxConnections,
      // libp2p accepts 5 inbound connections per second per remote host; many
      // simulated devices on 127.0.0.1 are one host, so they are exempted here.
      allow: allowHosts,
    },
    // Liveness is discovery's job (short ping timeout, an event, a hang-up);
    // libp2p's own monitor would ping every connection a second time.
    connectionMonitor: { enabled: false },
    services,
  })) as unknown as SwarmLibp2p
}

/**
 * kad-dht's default mapper strips private addresses from every peer record it
 * sends or receives. On a LAN every address is private, so provider records
 * would arrive without a way to reach the provider.
 */
function keepEveryAddress(peer: PeerInfo): PeerInfo {
  return peer
}

function checkMultiaddrs(field: string, values: readonly string[]): string[] {
  return values.map((value, index) => {
    try {
      return multiaddr(value).toString()
    } catch (err) {
      throw new SwarmNodeOptionsError(
        `${field}[${index}]: expected a multiaddr, found ${JSON.stringify(value)}`,
        { cause: err },
      )
    }
  })
}
