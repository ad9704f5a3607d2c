import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { test } from 'node:test'
import type { PeerDiscoveredEvent, PeerEvent } from '../../src/discovery/index.js'
import {
  createLoopbackNode,
  addressOf,
  nextEvent,
  startLoopbackNode,
} from '../node/swarm-helpers.js'

const quiet = { dht: false, liveness: false } as const
const isPeer = (id: { toString(): string }) => (event: PeerEvent) =>
  event.peerId.toString() === id.toString()

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return port
}

test('a static peer that hangs up is redialled', async t => {
  const b = await startLoopbackNode(t, quiet)
  const a = await createLoopbackNode(t, { ...quiet, staticPeers: [addressOf(b)] })
  const first = nextEvent<PeerEvent>(a.discovery, 'peer:connected', isPeer(b.peerId))
  const bSawA = nextEvent<PeerEvent>(b.discovery, 'peer:connected', isPeer(a.peerId))
  await a.start()
  await first
  await bSawA // B can only hang up on a connection it has registered

  const dropped = nextEvent<PeerEvent>(a.discovery, 'peer:disconnected', isPeer(b.peerId))
  const again = nextEvent<PeerEvent>(a.discovery, 'peer:connected', isPeer(b.peerId), 5_000)
  await b.libp2p.hangUp(a.peerId)

  await dropped
  await again
  assert.equal(a.libp2p.getConnections(b.peerId).length, 1)
})

test('a static peer that is down at start is dialled again until it comes up', async t => {
  const port = await freePort()
  const b = await createLoopbackNode(t, { ...quiet, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  const bAddress = `/ip4/127.0.0.1/tcp/${port}/p2p/${b.peerId.toString()}`
  const a = await createLoopbackNode(t, { ...quiet, staticPeers: [bAddress] })
  const discovered = nextEvent<PeerDiscoveredEvent>(a.discovery, 'peer:discovered')
  const connected = nextEvent<PeerEvent>(a.discovery, 'peer:connected', isPeer(b.peerId), 8_000)

  await a.start()
  const event = await discovered
  assert.equal(event.source, 'static')
  assert.equal(a.libp2p.getConnections().length, 0, 'B is not up yet')
  await b.start()

  await connected
})
