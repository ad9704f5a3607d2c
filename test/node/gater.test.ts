import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerEvent } from '../../src/discovery/index.js'
import { createSwarmNode, SwarmNodeOptionsError } from '../../src/node/index.js'
import {
  addressOf,
  capturingLogger,
  nextEvent,
  startLoopbackNode,
  tempDir,
} from './swarm-helpers.js'

const quiet = { dht: false, liveness: false } as const

test('a node with allowPeers accepts a listed peer', async t => {
  const listed = await startLoopbackNode(t, quiet)
  const guarded = await startLoopbackNode(t, { ...quiet, allowPeers: [listed.peerId.toString()] })

  const connected = nextEvent(guarded.discovery, 'peer:connected')
  await listed.libp2p.dial(multiaddr(addressOf(guarded)))

  const event = (await connected) as PeerEvent
  assert.equal(event.peerId.toString(), listed.peerId.toString())
})

test('a node with allowPeers refuses an unlisted peer after the handshake, and logs why', async t => {
  const listed = await startLoopbackNode(t, quiet)
  const stranger = await startLoopbackNode(t, quiet)
  const { logger, records } = capturingLogger()
  const guarded = await startLoopbackNode(t, {
    ...quiet,
    allowPeers: [listed.peerId.toString()],
    logger,
  })

  const connectedPeers: string[] = []
  guarded.discovery.on('peer:connected', ({ peerId }) => connectedPeers.push(peerId.toString()))
  // The dialer may finish its side of the handshake before the refusal
  // arrives: then the connection it got is closed under it at once.
  const outcome = await stranger.libp2p
    .dial(multiaddr(addressOf(guarded)))
    .catch((err: Error) => err)
  if (!(outcome instanceof Error)) {
    await closedWithin(outcome, 2_000)
  }

  assert.deepEqual(connectedPeers, [])
  assert.equal(guarded.libp2p.getConnections().length, 0)
  assert.equal(stranger.libp2p.getConnections().length, 0)
  const refusal = records.find(r => /not in allowPeers/.test(String(r.msg)))
  assert.equal(refusal?.peer, stranger.peerId.toString())
})

function closedWithin(connection: Connection, timeoutMs: number): Promise<void> {
  if (connection.status === 'closed') {
    return Promise.resolve()
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`connection still ${connection.status} after ${timeoutMs} ms`)),
      timeoutMs,
    )
    connection.addEventListener('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

test('a node with allowPeers does not dial an unlisted peer', async t => {
  const listed = await startLoopbackNode(t, quiet)
  const stranger = await startLoopbackNode(t, quiet)
  const guarded = await startLoopbackNode(t, { ...quiet, allowPeers: [listed.peerId.toString()] })

  await assert.rejects(guarded.libp2p.dial(stranger.peerId), { name: 'DialDeniedError' })
  await assert.rejects(guarded.libp2p.dial(multiaddr(addressOf(stranger))))

  assert.equal(stranger.libp2p.getConnections().length, 0)
})

test('an allowPeers entry that is not a peer id is refused by name', async t => {
  await assert.rejects(
    createSwarmNode({ dataDir: await tempDir(t), allowPeers: ['12D3KooWnotapeerid'], mdns: false }),
    (err: Error) => {
      assert.ok(err instanceof SwarmNodeOptionsError)
      assert.match(
        err.message,
        /allowPeers\[0\]: expected a libp2p peer id, found "12D3KooWnotapeerid"/,
      )
      return true
    },
  )
})
