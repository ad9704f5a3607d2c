import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet'

/**
 * The DNS-SD records a pvswarm node announces, as plain data (no sockets):
 *
 *     PTR  <service>                 -> <instance>.<service>
 *     TXT  <instance>.<service>      -> "dnsaddr=<multiaddr>/p2p/<peer id>" (one string per address)
 *
 * `instance` is random per process, so a node recognises its own answers by
 * instance and a second device using its peer id by a different instance.
 */

/** mDNS IPv4 multicast group (RFC 6762). */
export const MDNS_GROUP = '224.0.0.251'

const TXT_PREFIX = 'dnsaddr='
/** A TXT character-string holds at most 255 bytes (RFC 6763 §6.1). */
const MAX_TXT_STRING_BYTES = 255
/** Keeps an answer well inside one UDP datagram. */
const MAX_ANNOUNCED_ADDRESSES = 16
const RECORD_TTL_S = 120

export interface AnnouncedPeer {
  /** The announcing process's random instance label. */
  instance: string
  /** Peer id string the addresses carry. */
  peerId: string
  /** Addresses, without the trailing `/p2p/<id>`. */
  multiaddrs: Multiaddr[]
}

export type AnswerReading =
  | { kind: 'peer'; peer: AnnouncedPeer }
  | { kind: 'unrelated' }
  | { kind: 'invalid'; reason: string }

/** The question a node multicasts to find fleet peers. */
export function peerQuery(serviceName: string): Packet {
  return { type: 'query', id: 0, questions: [{ name: serviceName, type: 'PTR', class: 'IN' }] }
}

/** True when `packet` is a query asking for the fleet's service. */
export function isPeerQuery(packet: DecodedPacket, serviceName: string): boolean {
  return (
    packet.type === 'query' &&
    (packet.questions ?? []).some(
      q =>
        q.name.toLowerCase() === serviceName.toLowerCase() &&
        (q.type === 'PTR' || (q.type as string) === 'ANY'),
    )
  )
}

/**
 * The answer announcing this node. For a unicast ("legacy") answer the
 * query's id and questions are echoed, as RFC 6762 §6.7 asks.
 *
 * @param multiaddrs - addresses that end in `/p2p/<our id>`
 */
export function peerAnswer(
  serviceName: string,
  instance: string,
  multiaddrs: readonly Multiaddr[],
  query?: { id: number; questions: Question[] },
): Packet {
  const instanceName = `${instance}.${serviceName}`
  const strings = multiaddrs
    .map(ma => `${TXT_PREFIX}${ma.toString()}`)
    .filter(s => Buffer.byteLength(s) <= MAX_TXT_STRING_BYTES)
    .slice(0, MAX_ANNOUNCED_ADDRESSES)

  const answers: Answer[] = [
    { name: serviceName, type: 'PTR', class: 'IN', ttl: RECORD_TTL_S, data: instanceName },
    { name: instanceName, type: 'TXT', class: 'IN', ttl: RECORD_TTL_S, data: strings },
  ]
  return {
    type: 'response',
    id: query?.id ?? 0,
    flags: 0x400, // authoritative answer
    questions: query?.questions ?? [],
    answers,
  }
}

/** Reads a fleet peer announcement out of a response, if there is one. */
export function readPeerAnswer(packet: DecodedPacket, serviceName: string): AnswerReading {
  if (packet.type !== 'response') {
    return { kind: 'unrelated' }
  }
  const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])]
  const pointer = records.find(
    r => r.type === 'PTR' && r.name.toLowerCase() === serviceName.toLowerCase(),
  )
  if (pointer == null || pointer.type !== 'PTR') {
    return { kind: 'unrelated' }
  }

  const instanceName = pointer.data
  const suffix = `.${serviceName}`
  if (!instanceName.toLowerCase().endsWith(suffix.toLowerCase())) {
    return { kind: 'invalid', reason: `PTR target ${instanceName} is not under ${serviceName}` }
  }
  const instance = instanceName.slice(0, -suffix.length)

  const strings = records
    .flatMap(r =>
      r.type === 'TXT' && r.name.toLowerCase() === instanceName.toLowerCase()
        ? txtStrings(r.data)
        : [],
    )
    .filter(s => s.startsWith(TXT_PREFIX))
  if (strings.length === 0) {
    return {
      kind: 'invalid',
      reason: `instance ${instance} announced no ${TXT_PREFIX} TXT strings`,
    }
  }

  let peerId: string | undefined
  const multiaddrs: Multiaddr[] = []
  for (const text of strings) {
    let address: Multiaddr
    try {
      address = multiaddr(text.slice(TXT_PREFIX.length))
    } catch {
      return { kind: 'invalid', reason: `instance ${instance} announced a bad multiaddr ${text}` }
    }
    const id = address.getComponents().findLast(c => c.code === CODE_P2P)?.value
    if (id == null) {
      return { kind: 'invalid', reason: `instance ${instance} announced ${text} without /p2p/<id>` }
    }
    if (peerId != null && id !== peerId) {
      return { kind: 'invalid', reason: `instance ${instance} announced two peer ids` }
    }
    peerId = id
    multiaddrs.push(address.decapsulateCode(CODE_P2P))
  }

  try {
    peerIdFromString(peerId as string)
  } catch {
    return { kind: 'invalid', reason: `instance ${instance} announced a bad peer id ${peerId}` }
  }
  return { kind: 'peer', peer: { instance, peerId: peerId as string, multiaddrs } }
}

/**
 * Loopback addresses name the receiver's own host, not the sender's: they are
 * only worth dialling when the answer came from this host.
 */
export function withoutLoopback(multiaddrs: readonly Multiaddr[]): Multiaddr[] {
  return multiaddrs.filter(ma => {
    const host = ma.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
    return host == null || !(host.startsWith('127.') || host === '::1')
  })
}

function txtStrings(data: unknown): string[] {
  const items = Array.isArray(data) ? data : [data]
  return items.map(item =>
    typeof item === 'string' ? item : Buffer.from(item as Uint8Array).toString('utf8'),
  )
}
