import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerEvent, PeerUnresponsiveEvent } from '../../src/discovery/index.js'
import { DiscoveryOptionsError } from '../../src/discovery/index.js'
import { Liveness, type LivenessLibp2p } from '../../src/discovery/liveness.js'
import { pino } from 'pino'
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

/** A node whose one peer never answers a ping; counts pings and hang-ups. */
function silentPeerNode() {
  const peerId = { toString: () => 'peer-a' }
  const counts = { pings: 0, hangUps: 0 }
  const libp2p = {
    getPeers: () => [peerId],
    getConnections: () => (counts.hangUps > 0 ? [] : [{ abort: () => counts.hangUps++ }]),
    addEventListener: () => {},
    removeEventListener: () => {},
    services: {
      ping: {
        ping: (_peer: unknown, options: { signal: AbortSignal }) => {
          counts.pings++
          return new Promise((_, reject) => {
            options.signal.addEventListener('abort', () => reject(new Error('ping timed out')))
          })
        },
      },
    },
  }
  return { libp2p: libp2p as unknown as LivenessLibp2p, counts }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

test('a peer that keeps sending is neither pinged nor hung up on; once silent it is', async () => {
  const { libp2p, counts } = silentPeerNode()
  const timing = { intervalMs: 100, timeoutMs: 100, missesBeforeHangUp: 2, activityGraceMs: 300 }
  const liveness = new Liveness(libp2p, timing, pino({ level: 'silent' }), () => {})
  liveness.start()
  try {
    // chunk data keeps arriving while its pongs would be stuck behind it
    for (let i = 0; i < 40; i++) {
      liveness.noteActivity('peer-a')
      await sleep(25)
    }
    assert.equal(counts.hangUps, 0)
    assert.ok(counts.pings <= 2, `${counts.pings} pings while the peer was talking`)

    const silentSince = Date.now()
    while (counts.hangUps === 0 && Date.now() - silentSince < 3000) await sleep(20)
    assert.equal(counts.hangUps, 1, 'hung up once it fell silent and missed its pings')
  } finally {
    liveness.stop()
  }
})

test('a peer whose pongs come slowly is given longer, not hung up on', async () => {
  const { libp2p, counts } = silentPeerNode()
  // every pong takes 150 ms, longer than the 100 ms floor: a loaded link, not a dead peer
  ;(libp2p.services.ping as { ping: unknown }).ping = () => {
    counts.pings++
    return sleep(150).then(() => 150)
  }
  const timing = { intervalMs: 50, timeoutMs: 100, missesBeforeHangUp: 2, activityGraceMs: 10 }
  const liveness = new Liveness(libp2p, timing, pino({ level: 'silent' }), () => {})
  liveness.start()
  try {
    await sleep(1500)
    assert.ok(counts.pings >= 4, `only ${counts.pings} pings`)
    assert.equal(counts.hangUps, 0)
  } finally {
    liveness.stop()
  }
})

test('a ping timeout above maxTimeoutMs is refused by name', async () => {
  const { libp2p } = silentPeerNode()
  assert.throws(
    () =>
      new Liveness(
        libp2p,
        { timeoutMs: 5000, maxTimeoutMs: 1000 },
        pino({ level: 'silent' }),
        () => {},
      ),
    /liveness\.maxTimeoutMs: expected >= timeoutMs \(5000\), found 1000/,
  )
})
