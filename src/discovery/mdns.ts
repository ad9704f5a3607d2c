import { randomBytes } from 'node:crypto'
import type { RemoteInfo, Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { Multiaddr } from '@multiformats/multiaddr'
import dnsPacket, { type DecodedPacket } from 'dns-packet'
import type { Logger } from 'pino'
import { DiscoveryOptionsError } from './errors.js'
import { jitteredMs, randomDelayMs, type Random } from './jitter.js'
import { bindSocket, closeSocket, ipv4Interfaces, isLocalAddress, send } from './udp.js'
import {
  MDNS_GROUP,
  isPeerQuery,
  peerAnswer,
  peerQuery,
  readPeerAnswer,
  withoutLoopback,
  type AnnouncedPeer,
} from './mdns-records.js'

/**
 * mDNS timing and naming. Every interval is drawn afresh, and the first query
 * waits a random time, so a floor powered on at once spreads its queries out.
 */
export interface MdnsOptions {
  /** DNS-SD service the fleet announces under; nodes under another name ignore us. @default '_pvswarm._udp.local' */
  serviceName?: string
  /** UDP port of mDNS. @default 5353 */
  port?: number
  /** Mean time between two queries of this node. @default 10_000 */
  queryIntervalMs?: number
  /** Each interval is drawn from `queryIntervalMs x [1 - queryJitter, 1 + queryJitter]`; in [0, 1). @default 0.3 */
  queryJitter?: number
  /** The first query goes out after a delay drawn from [0, firstQueryMaxDelayMs]. @default 2_000 */
  firstQueryMaxDelayMs?: number
  /** Each answer waits a delay drawn from [0, answerMaxDelayMs], so one query does not draw N replies at once. @default 100 */
  answerMaxDelayMs?: number
}

export const MDNS_DEFAULTS: Required<MdnsOptions> = {
  serviceName: '_pvswarm._udp.local',
  port: 5353,
  queryIntervalMs: 10_000,
  queryJitter: 0.3,
  firstQueryMaxDelayMs: 2_000,
  answerMaxDelayMs: 100,
}

export interface MdnsHost {
  /** Our peer id string. */
  peerId: string
  /** Our current addresses, each ending in /p2p/<our id>. */
  addresses(): Multiaddr[]
  logger: Logger
  random?: Random
}

export interface MdnsEvents {
  /** Another node answered. Loopback addresses are kept only when it runs on this host. */
  peer: [peer: AnnouncedPeer, from: RemoteInfo]
  /** An answer carried our peer id under an instance that is not ours. */
  clone: [peer: AnnouncedPeer, from: RemoteInfo]
}

/**
 * Finds fleet peers on the LAN by mDNS.
 *
 * Two sockets: a responder bound to the mDNS port (shared with other
 * processes via SO_REUSEADDR) that answers queries, and a querier on an
 * ephemeral port. Queries leave from the ephemeral port, so answers come back
 * by unicast to exactly this process — even with several nodes on one host,
 * where a unicast datagram to the shared port would reach only one of them —
 * and a floor of N nodes exchanges N answers per query instead of N x N.
 *
 * Queries go out on every IPv4 interface in turn (the kernel alone would use
 * only the default-route interface). IPv4 only.
 */
export class MdnsDiscovery extends EventEmitter<MdnsEvents> {
  readonly #options: Required<MdnsOptions>
  readonly #host: MdnsHost
  readonly #instance = `pvswarm-${randomBytes(8).toString('hex')}`
  readonly #random: Random
  readonly #joined = new Set<string>()
  readonly #pendingAnswers = new Map<string, NodeJS.Timeout>()
  #responder?: Socket
  #querier?: Socket
  #queryTimer?: NodeJS.Timeout
  /** Multicast answers go one at a time: each picks the outgoing interface per send. */
  #answerQueue: Promise<void> = Promise.resolve()
  #running = false
  /** Bumped by each start, so a query loop left over from before a restart ends. */
  #generation = 0

  constructor(host: MdnsHost, options: MdnsOptions = {}) {
    super()
    this.#options = checkOptions({ ...MDNS_DEFAULTS, ...options })
    this.#host = host
    this.#random = host.random ?? Math.random
  }

  /** This process's instance label in answers. */
  get instance(): string {
    return this.#instance
  }

  /**
   * Opens the sockets and schedules the first query.
   *
   * @throws Error from bind (e.g. EADDRINUSE when another mDNS stack holds the port without sharing it)
   */
  async start(): Promise<void> {
    if (this.#running) {
      return
    }
    this.#running = true
    this.#generation++
    try {
      this.#responder = await bindSocket(this.#options.port, true)
      this.#querier = await bindSocket(0, false)
    } catch (err) {
      await this.stop()
      throw err
    }
    for (const socket of [this.#responder, this.#querier]) {
      socket.setMulticastTTL(255)
      socket.setMulticastLoopback(true)
      socket.on('message', (message, from) => this.#onMessage(message, from))
      socket.on('error', err => this.#host.logger.warn({ err }, 'mdns socket error'))
    }
    this.#joinGroups()
    this.#scheduleQuery(randomDelayMs(this.#options.firstQueryMaxDelayMs, this.#random))
  }

  async stop(): Promise<void> {
    this.#running = false
    clearTimeout(this.#queryTimer)
    for (const timer of this.#pendingAnswers.values()) {
      clearTimeout(timer)
    }
    this.#pendingAnswers.clear()
    this.#joined.clear()
    const sockets = [this.#responder, this.#querier]
    this.#responder = undefined
    this.#querier = undefined
    await Promise.all(sockets.map(async socket => await closeSocket(socket)))
  }

  #scheduleQuery(delayMs: number): void {
    const generation = this.#generation
    this.#queryTimer = setTimeout(() => {
      void this.#query().finally(() => {
        if (this.#running && generation === this.#generation) {
          const { queryIntervalMs, queryJitter } = this.#options
          this.#scheduleQuery(jitteredMs(queryIntervalMs, queryJitter, this.#random))
        }
      })
    }, delayMs)
  }

  async #query(): Promise<void> {
    this.#joinGroups()
    const querier = this.#querier
    if (querier == null) {
      return
    }
    const bytes = dnsPacket.encode(peerQuery(this.#options.serviceName))
    await this.#multicast(querier, bytes)
  }

  /** Sends on each interface in turn; each send completes before the next interface is chosen. */
  async #multicast(socket: Socket, bytes: Uint8Array): Promise<void> {
    for (const address of ipv4Interfaces().map(i => i.address)) {
      if (!this.#running) {
        return
      }
      try {
        socket.setMulticastInterface(address)
        await send(socket, bytes, this.#options.port, MDNS_GROUP)
      } catch (err) {
        this.#host.logger.debug({ err, address }, 'mdns send failed on interface')
      }
    }
  }

  /** Joins the group on interfaces that appeared since the last call (DHCP may come late). */
  #joinGroups(): void {
    const responder = this.#responder
    if (responder == null) {
      return
    }
    for (const { address } of ipv4Interfaces()) {
      if (this.#joined.has(address)) {
        continue
      }
      try {
        responder.addMembership(MDNS_GROUP, address)
        this.#joined.add(address)
        this.#host.logger.debug({ address }, 'mdns joined multicast group')
      } catch (err) {
        this.#host.logger.debug({ err, address }, 'mdns cannot join multicast group on interface')
      }
    }
  }

  #onMessage(message: Buffer, from: RemoteInfo): void {
    let packet: DecodedPacket
    try {
      packet = dnsPacket.decode(message)
    } catch {
      return
    }
    if (isPeerQuery(packet, this.#options.serviceName)) {
      this.#onQuery(packet, from)
      return
    }

    const reading = readPeerAnswer(packet, this.#options.serviceName)
    if (reading.kind === 'invalid') {
      this.#host.logger.debug({ from: from.address, reason: reading.reason }, 'mdns answer ignored')
      return
    }
    if (reading.kind !== 'peer' || reading.peer.instance === this.#instance) {
      return
    }
    const peer = reading.peer
    if (peer.peerId === this.#host.peerId) {
      this.emit('clone', peer, from)
      return
    }
    const multiaddrs = isLocalAddress(from.address)
      ? peer.multiaddrs
      : withoutLoopback(peer.multiaddrs)
    if (multiaddrs.length > 0) {
      this.emit('peer', { ...peer, multiaddrs }, from)
    }
  }

  #onQuery(packet: DecodedPacket, from: RemoteInfo): void {
    const ownQuery = from.port === this.#querier?.address().port && isLocalAddress(from.address)
    const key = `${from.address}:${from.port}`
    if (ownQuery || this.#pendingAnswers.has(key)) {
      return
    }
    const timer = setTimeout(
      () => {
        this.#pendingAnswers.delete(key)
        void this.#answer(packet, from)
      },
      randomDelayMs(this.#options.answerMaxDelayMs, this.#random),
    )
    this.#pendingAnswers.set(key, timer)
  }

  async #answer(query: DecodedPacket, to: RemoteInfo): Promise<void> {
    const responder = this.#responder
    const addresses = this.#host.addresses()
    if (responder == null || addresses.length === 0) {
      return
    }
    // A query from the mDNS port is a full mDNS querier: answer the group.
    // Any other port is a one-shot querier (ours are): answer it directly.
    if (to.port === this.#options.port) {
      const bytes = dnsPacket.encode(
        peerAnswer(this.#options.serviceName, this.#instance, addresses),
      )
      this.#answerQueue = this.#answerQueue.then(
        async () => await this.#multicast(responder, bytes),
      )
      await this.#answerQueue
      return
    }
    const answer = peerAnswer(this.#options.serviceName, this.#instance, addresses, {
      id: query.id ?? 0,
      questions: query.questions ?? [],
    })
    try {
      await send(responder, dnsPacket.encode(answer), to.port, to.address)
    } catch (err) {
      this.#host.logger.debug({ err, to: to.address }, 'mdns answer not sent')
    }
  }
}

function checkOptions(options: Required<MdnsOptions>): Required<MdnsOptions> {
  const { queryIntervalMs, queryJitter, firstQueryMaxDelayMs, answerMaxDelayMs, port } = options
  if (!(queryIntervalMs > 0)) {
    throw new DiscoveryOptionsError(`mdns.queryIntervalMs: expected > 0, found ${queryIntervalMs}`)
  }
  if (!(queryJitter >= 0 && queryJitter < 1)) {
    throw new DiscoveryOptionsError(
      `mdns.queryJitter: expected a fraction in [0, 1), found ${queryJitter}`,
    )
  }
  if (!(firstQueryMaxDelayMs >= 0) || !(answerMaxDelayMs >= 0)) {
    throw new DiscoveryOptionsError(
      'mdns delays: expected firstQueryMaxDelayMs and answerMaxDelayMs >= 0',
    )
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DiscoveryOptionsError(`mdns.port: expected 1-65535, found ${port}`)
  }
  return options
}
