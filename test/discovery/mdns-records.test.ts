import assert from 'node:assert/strict'
import { test } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import dnsPacket, { type Packet } from 'dns-packet'
import {
  isPeerQuery,
  peerAnswer,
  peerQuery,
  readPeerAnswer,
  withoutLoopback,
} from '../../src/discovery/mdns-records.js'

const SERVICE = '_pvswarm._udp.local'
const PEER = '12D3KooWLUhWuDHWcgiUgvAQyxMvWi5mqwoQBc8vXGrFpUySDYW5'
const OTHER = '12D3KooWGYqrxTY5cH7x2GHU8m5KroSvpRcso1MymbLNgyf6SGcY'

/** Through the wire format and back, as a receiver sees it. */
const onTheWire = (packet: Packet) => dnsPacket.decode(dnsPacket.encode(packet))

test('our query asks for the fleet service and is recognised as such', () => {
  const query = onTheWire(peerQuery(SERVICE))

  assert.ok(isPeerQuery(query, SERVICE))
  assert.equal(isPeerQuery(query, '_p2p._udp.local'), false)
})

test('an answer carries instance, peer id and addresses, and reads back without /p2p', () => {
  const addresses = [
    multiaddr(`/ip4/10.1.2.3/tcp/4001/p2p/${PEER}`),
    multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`),
  ]

  const reading = readPeerAnswer(onTheWire(peerAnswer(SERVICE, 'pvswarm-abc', addresses)), SERVICE)

  assert.equal(reading.kind, 'peer')
  assert.ok(reading.kind === 'peer')
  assert.equal(reading.peer.instance, 'pvswarm-abc')
  assert.equal(reading.peer.peerId, PEER)
  assert.deepEqual(
    reading.peer.multiaddrs.map(ma => ma.toString()),
    ['/ip4/10.1.2.3/tcp/4001', '/ip4/127.0.0.1/tcp/4001'],
  )
})

test('a unicast answer echoes the query id and question (RFC 6762 §6.7)', () => {
  const query = onTheWire({ ...peerQuery(SERVICE), id: 4242 })

  const answer = onTheWire(
    peerAnswer(SERVICE, 'pvswarm-abc', [multiaddr(`/ip4/10.1.2.3/tcp/1/p2p/${PEER}`)], {
      id: query.id ?? 0,
      questions: query.questions ?? [],
    }),
  )

  assert.equal(answer.id, 4242)
  assert.deepEqual(answer.questions, query.questions)
})

test('answers of another service (plain libp2p mDNS) are unrelated to us', () => {
  const foreign = onTheWire(
    peerAnswer('_p2p._udp.local', 'x', [multiaddr(`/ip4/10.0.0.1/tcp/1/p2p/${PEER}`)]),
  )

  assert.deepEqual(readPeerAnswer(foreign, SERVICE), { kind: 'unrelated' })
  assert.deepEqual(readPeerAnswer(onTheWire(peerQuery(SERVICE)), SERVICE), { kind: 'unrelated' })
})

test('an answer whose address lacks /p2p, or names two peers, is invalid', () => {
  const withoutId = onTheWire(peerAnswer(SERVICE, 'a', [multiaddr('/ip4/10.0.0.1/tcp/1')]))
  const twoIds = onTheWire(
    peerAnswer(SERVICE, 'b', [
      multiaddr(`/ip4/10.0.0.1/tcp/1/p2p/${PEER}`),
      multiaddr(`/ip4/10.0.0.2/tcp/1/p2p/${OTHER}`),
    ]),
  )

  const first = readPeerAnswer(withoutId, SERVICE)
  const second = readPeerAnswer(twoIds, SERVICE)
  assert.equal(first.kind, 'invalid')
  assert.match(first.kind === 'invalid' ? first.reason : '', /without \/p2p\/<id>/)
  assert.equal(second.kind, 'invalid')
  assert.match(second.kind === 'invalid' ? second.reason : '', /two peer ids/)
})

test('garbage in a dnsaddr string is reported, not thrown', () => {
  const packet: Packet = {
    type: 'response',
    answers: [
      { name: SERVICE, type: 'PTR', data: `evil.${SERVICE}` },
      { name: `evil.${SERVICE}`, type: 'TXT', data: ['dnsaddr=/ip4/not-an-ip/tcp/1'] },
    ],
  }

  const reading = readPeerAnswer(onTheWire(packet), SERVICE)

  assert.equal(reading.kind, 'invalid')
  assert.match(reading.kind === 'invalid' ? reading.reason : '', /bad multiaddr/)
})

test('an answer keeps at most 16 addresses and none over 255 bytes', () => {
  const many = Array.from({ length: 20 }, (_, i) =>
    multiaddr(`/ip4/10.0.0.${i + 1}/tcp/1/p2p/${PEER}`),
  )
  const long = multiaddr(
    `/dns4/${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.example/tcp/1/p2p/${PEER}`,
  )

  const reading = readPeerAnswer(onTheWire(peerAnswer(SERVICE, 'x', [long, ...many])), SERVICE)

  assert.ok(reading.kind === 'peer')
  assert.equal(reading.peer.multiaddrs.length, 16)
  assert.ok(reading.peer.multiaddrs.every(ma => !ma.toString().includes('example')))
})

test('loopback addresses are dropped for answers from other hosts', () => {
  const kept = withoutLoopback([
    multiaddr('/ip4/127.0.0.1/tcp/1'),
    multiaddr('/ip4/127.8.0.1/tcp/1'),
    multiaddr('/ip6/::1/tcp/1'),
    multiaddr('/ip4/10.77.0.2/tcp/1'),
  ])

  assert.deepEqual(
    kept.map(ma => ma.toString()),
    ['/ip4/10.77.0.2/tcp/1'],
  )
})
