import type { RemoteInfo } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import dnsPacket, { type DecodedPacket } from 'dns-packet'
import { MDNS_DEFAULTS } from './mdns.js'
import { MDNS_GROUP, peerQuery, readPeerAnswer } from './mdns-records.js'
import { bindSocket, carriesMdns, closeSocket, send } from './udp.js'

/** One address of one network interface, as `pvswarm doctor` reports it. */
export interface InterfaceAddress {
  /** interface name, e.g. `eth0` */
  name: string
  family: 'IPv4' | 'IPv6'
  address: string
  /** loopback */
  internal: boolean
  /** pvswarm's mDNS sends queries and answers and joins the group on this address */
  usedByMdns: boolean
}

/** Every address of every interface, marked with whether mDNS uses it (the same rule it runs by). */
export function interfaceAddresses(): InterfaceAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([name, list]) =>
    (list ?? []).map(info => ({
      name,
      family: info.family,
      address: info.address,
      internal: info.internal,
      usedByMdns: carriesMdns(info),
    })),
  )
}

export interface MdnsProbeOptions {
  /** the addresses to query from, one query each; usually those with `usedByMdns` */
  addresses: readonly string[]
  /** How long answers are collected after the last query left. @default 2000 */
  waitMs?: number
  /** @default '_pvswarm._udp.local' */
  serviceName?: string
  /** @default 5353 */
  port?: number
}

/** One interface's query. */
export interface ProbeSend {
  address: string
  /** why the query could not leave on this address; absent when it left */
  error?: string
}

/** A pvswarm node that answered the probe. */
export interface ProbeAnswer {
  peerId: string
  instance: string
  /** the address the answer came from */
  from: string
  /** what it announced, without `/p2p/<id>` */
  multiaddrs: string[]
}

export interface MdnsProbe {
  sent: ProbeSend[]
  answers: ProbeAnswer[]
  /** answers that were about the service but could not be read, with the reason */
  invalid: Array<{ from: string; reason: string }>
}

/**
 * Asks the local link once who runs pvswarm: one fleet query multicast on each given address,
 * the same packet a node's querier sends, from an ephemeral port so nodes answer by unicast.
 * Nothing but that query is sent.
 *
 * @throws Error from bind when no UDP socket can be opened at all
 */
export async function probeMdns(options: MdnsProbeOptions): Promise<MdnsProbe> {
  const serviceName = options.serviceName ?? MDNS_DEFAULTS.serviceName
  const port = options.port ?? MDNS_DEFAULTS.port
  const waitMs = options.waitMs ?? 2000
  const socket = await bindSocket(0, false)
  const answers = new Map<string, ProbeAnswer>()
  const invalid: MdnsProbe['invalid'] = []
  socket.on('message', (message: Buffer, from: RemoteInfo) => {
    let packet: DecodedPacket
    try {
      packet = dnsPacket.decode(message)
    } catch {
      return
    }
    const reading = readPeerAnswer(packet, serviceName)
    if (reading.kind === 'invalid') invalid.push({ from: from.address, reason: reading.reason })
    if (reading.kind !== 'peer') return
    const { peerId, instance, multiaddrs } = reading.peer
    answers.set(`${instance}/${from.address}`, {
      peerId,
      instance,
      from: from.address,
      multiaddrs: multiaddrs.map(ma => ma.toString()),
    })
  })
  const sent: ProbeSend[] = []
  try {
    socket.setMulticastTTL(255)
    // a daemon on this very host hears the query only through multicast loopback
    socket.setMulticastLoopback(true)
    const bytes = dnsPacket.encode(peerQuery(serviceName))
    for (const address of options.addresses) {
      try {
        socket.setMulticastInterface(address)
        await send(socket, bytes, port, MDNS_GROUP)
        sent.push({ address })
      } catch (err) {
        sent.push({ address, error: (err as Error).message })
      }
    }
    // answers have no end marker: the window is the only way to know all who will answer did
    if (sent.some(s => s.error === undefined)) {
      await new Promise(resolve => setTimeout(resolve, waitMs))
    }
  } finally {
    await closeSocket(socket)
  }
  return { sent, answers: [...answers.values()], invalid }
}
