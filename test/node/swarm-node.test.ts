import assert from 'node:assert/strict'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import type { CloneSuspicion, PeerEvent } from '../../src/discovery/index.js'
import { CLONE_MESSAGE, InvalidStaticPeerError } from '../../src/discovery/index.js'
import { createSwarmNode, SwarmNodeOptionsError } from '../../src/node/index.js'
import {
  addressOf,
  capturingLogger,
  createLoopbackNode,
  nextEvent,
  startLoopbackNode,
  tempDir,
} from './swarm-helpers.js'

const quiet = { dht: false, liveness: false } as const
const isPeer = (id: { toString(): string }) => (event: PeerEvent) =>
  event.peerId.toString() === id.toString()

test('a node restarted from its data directory comes back with the same peer id', async t => {
  const dataDir = await tempDir(t)
  const first = await startLoopbackNode(t, { ...quiet, dataDir })
  const firstId = first.peerId.toString()
  await first.stop()

  const second = await startLoopbackNode(t, { ...quiet, dataDir })

  assert.equal(second.peerId.toString(), firstId)
})

test('a node dials its static peer at start; both sides report the connection', async t => {
  const b = await startLoopbackNode(t, quiet)
  const bSawA = nextEvent<PeerEvent>(b.discovery, 'peer:connected')
  const a = await createLoopbackNode(t, { ...quiet, staticPeers: [addressOf(b)] })
  const aSawB = nextEvent<PeerEvent>(a.discovery, 'peer:connected', isPeer(b.peerId))

  await a.start()

  await aSawB
  assert.equal((await bSawA).peerId.toString(), a.peerId.toString())
})

test('a static peer entry naming the node itself is never dialled', async t => {
  const b = await startLoopbackNode(t, quiet)
  const dataDir = await tempDir(t)
  const own = await startLoopbackNode(t, { ...quiet, dataDir, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const ownAddress = addressOf(own)
  await own.stop()
  // Restart on the same port, listing itself first and a real peer second,
  // as a fleet-wide static list would.
  const node = await createLoopbackNode(t, {
    ...quiet,
    dataDir,
    listen: [ownAddress.replace(/\/p2p\/.*$/, '')],
    staticPeers: [ownAddress, addressOf(b)],
  })
  const dialled: string[] = []
  const dial = node.libp2p.dial.bind(node.libp2p)
  node.libp2p.dial = (target, options) => {
    dialled.push(target.toString())
    return dial(target, options)
  }
  const connectedToB = nextEvent<PeerEvent>(node.discovery, 'peer:connected', isPeer(b.peerId))

  await node.start()
  await connectedToB

  assert.deepEqual(dialled, [b.peerId.toString()])
  assert.equal(node.cloneSuspected, undefined)
})

test('a second device holding our identity is detected when a static address answers as us', async t => {
  const dataDir = await tempDir(t)
  const original = await createLoopbackNode(t, { ...quiet, dataDir })
  const cloneDir = join(await tempDir(t), 'cloned')
  await cp(dataDir, cloneDir, { recursive: true })
  const clone = await startLoopbackNode(t, { ...quiet, dataDir: cloneDir })
  assert.equal(clone.peerId.toString(), original.peerId.toString())

  const { logger, records } = capturingLogger()
  const node = await createLoopbackNode(t, {
    ...quiet,
    dataDir,
    staticPeers: [addressOf(clone)],
    logger,
  })
  const suspected = nextEvent<CloneSuspicion>(node.discovery, 'clone:suspected')
  await node.start()

  const suspicion = await suspected
  assert.equal(suspicion.via, 'static-dial')
  assert.equal(suspicion.remoteAddress, addressOf(clone).replace(/\/p2p\/.*$/, ''))
  assert.deepEqual(node.cloneSuspected, suspicion)
  const logged = records.find(r => r.msg === CLONE_MESSAGE)
  assert.equal(logged?.level, 50, 'logged at error level')
  assert.equal(node.libp2p.getConnections().length, 0, 'no connection to the clone survives')
})

test('a peer that stops is reported disconnected within seconds', async t => {
  const b = await startLoopbackNode(t, quiet)
  const a = await createLoopbackNode(t, { ...quiet, staticPeers: [addressOf(b)] })
  const connected = nextEvent<PeerEvent>(a.discovery, 'peer:connected', isPeer(b.peerId))
  await a.start()
  await connected

  const disconnected = nextEvent<PeerEvent>(
    a.discovery,
    'peer:disconnected',
    isPeer(b.peerId),
    5_000,
  )
  await b.stop()

  await disconnected
  assert.equal(a.libp2p.getConnections(b.peerId).length, 0)
})

test('bad options are refused by name before anything listens', async t => {
  const dataDir = await tempDir(t)

  await assert.rejects(
    createSwarmNode({ dataDir, listen: ['/ip4/300.1.1.1/tcp/0'], mdns: false }),
    (err: Error) => {
      assert.ok(err instanceof SwarmNodeOptionsError)
      assert.match(
        err.message,
        /^listen\[0\]: expected a multiaddr, found "\/ip4\/300\.1\.1\.1\/tcp\/0"/,
      )
      return true
    },
  )
  await assert.rejects(
    createSwarmNode({ dataDir, staticPeers: ['/ip4/127.0.0.1/tcp/4001'], mdns: false }),
    (err: Error) => {
      assert.ok(err instanceof InvalidStaticPeerError)
      assert.match(err.message, /staticPeers\[0\]: expected the address to end in \/p2p\/<peer id>/)
      return true
    },
  )
  await assert.rejects(createSwarmNode({ dataDir, maxConnections: 0, mdns: false }), {
    name: 'SwarmNodeOptionsError',
    message: /maxConnections: expected a positive integer, found 0/,
  })
  await assert.rejects(createSwarmNode({ dataDir: '' }), { name: 'SwarmNodeOptionsError' })
})
