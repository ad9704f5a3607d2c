import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerEvent, PeerUnresponsiveEvent } from '../../src/discovery/index.js'
import { DiscoveryOptionsError } from '../../src/discovery/index.js'
import {
  addressOf,
  NodeProcess,
  nextEvent,
  startLoopbackNode,
  tempDir,
} from '../node/swarm-helpers.js'

test('a peer that freezes (no FIN, TCP still up) is noticed by ping and hung up on', async t => {
  const a = await startLoopbackNode(t, {
    dht: false,
    liveness: { intervalMs: 300, timeoutMs: 500, missesBeforeHangUp: 2 },
  })
  const child = NodeProcess.spawnLocal({
    dataDir: await tempDir(t, 'frozen'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    staticPeers: [addressOf(a)],
    dht: false,
    liveness: false,
  })
  try {
    const started = await child.waitFor(e => e.event === 'started')
    const isChild = (e: PeerEvent) => e.peerId.toString() === started.peerId
    if (a.libp2p.getConnections().length === 0) {
      await nextEvent<PeerEvent>(a.discovery, 'peer:connected', isChild)
    }

    const unresponsive = nextEvent<PeerUnresponsiveEvent>(
      a.discovery,
      'peer:unresponsive',
      isChild,
      5_000,
    )
    const disconnected = nextEvent<PeerEvent>(a.discovery, 'peer:disconnected', isChild, 5_000)
    process.kill(child.child.pid!, 'SIGSTOP')

    const event = await unresponsive
    assert.equal(event.missedPings, 2)
    await disconnected
    assert.equal(a.libp2p.getConnections().length, 0)
  } finally {
    child.child.kill('SIGKILL')
    await child.exited
  }
})

test('liveness timing out of range is refused by name', async t => {
  await assert.rejects(startLoopbackNode(t, { liveness: { timeoutMs: 0 } }), (err: Error) => {
    assert.ok(err instanceof DiscoveryOptionsError)
    assert.match(err.message, /liveness\.timeoutMs: expected > 0, found 0/)
    return true
  })
})
