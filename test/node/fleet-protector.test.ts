import assert from 'node:assert/strict'
import { test } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Stream } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { generateFleetKey, sendBounded, type SwarmNode } from '../../src/node/index.js'
import { addressOf, startLoopbackNode } from './swarm-helpers.js'

const BULK_PROTOCOL = '/pvswarm-test/bulk/1'
const quiet = { dht: false, liveness: false } as const

/** Sends `totalBytes` from `from` to `to` on one stream; the reader pauses now and then. */
async function bulkTransfer(from: SwarmNode, to: SwarmNode, totalBytes: number): Promise<number> {
  const received = Promise.withResolvers<number>()
  await to.libp2p.handle(BULK_PROTOCOL, (stream: Stream) => {
    let bytes = 0
    let sincePause = 0
    stream.addEventListener('message', event => {
      bytes += event.data.byteLength
      sincePause += event.data.byteLength
      if (sincePause >= 8 * 1024 * 1024) {
        sincePause = 0
        stream.pause()
        setTimeout(() => {
          // resume() throws once the connection is gone
          if (stream.status === 'open') stream.resume()
        }, 20)
      }
    })
    stream.addEventListener('remoteCloseWrite', () => received.resolve(bytes))
    stream.addEventListener('close', event => {
      if (event.error != null) received.reject(event.error)
    })
  })

  const stream = await from.libp2p.dialProtocol(multiaddr(addressOf(to)), BULK_PROTOCOL)
  const chunk = new Uint8Array(1024 * 1024).fill(7)
  for (let sent = 0; sent < totalBytes; sent += chunk.byteLength) {
    await sendBounded(stream, chunk)
    assert.ok(stream.writeBufferLength <= chunk.byteLength)
  }
  await stream.close()
  return await received.promise
}

test('two nodes holding the fleet key connect and move 96 MiB through a pausing reader', async t => {
  const fleetKey = generateFleetKey()
  const a = await startLoopbackNode(t, { fleetKey, ...quiet })
  const b = await startLoopbackNode(t, { fleetKey, ...quiet })

  const totalBytes = 96 * 1024 * 1024
  const received = await bulkTransfer(a, b, totalBytes)

  assert.equal(received, totalBytes)
  assert.equal(a.libp2p.getConnections(b.peerId)[0]?.status, 'open')
})

test('a node without the fleet key cannot connect to one that has it, either way round', async t => {
  const fleetKey = generateFleetKey()
  const member = await startLoopbackNode(t, { fleetKey, ...quiet })
  const outsider = await startLoopbackNode(t, quiet)

  await assert.rejects(outsider.libp2p.dial(multiaddr(addressOf(member))))
  await assert.rejects(member.libp2p.dial(multiaddr(addressOf(outsider))))

  assert.equal(member.libp2p.getConnections().length, 0)
  assert.equal(outsider.libp2p.getConnections().length, 0)
})

test('nodes of two fleets with different keys cannot connect', async t => {
  const a = await startLoopbackNode(t, { fleetKey: generateFleetKey(), ...quiet })
  const b = await startLoopbackNode(t, { fleetKey: generateFleetKey(), ...quiet })

  // PSK v1 has no key check: each side reads the other's noise as garbage
  // and waits for more, so the dial fails by timeout.
  await assert.rejects(
    a.libp2p.dial(multiaddr(addressOf(b)), { signal: AbortSignal.timeout(1_500) }),
  )
  assert.equal(a.libp2p.getConnections().length, 0)
  assert.equal(b.libp2p.getConnections().length, 0)
})

test('speaks the libp2p pnet wire format: a @libp2p/pnet peer with the same key connects', async t => {
  const fleetKey = generateFleetKey()
  const ours = await startLoopbackNode(t, { fleetKey, ...quiet })
  const theirs = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: preSharedKey({ psk: fleetKey }),
    services: { ping: ping() },
  })
  t.after(() => theirs.stop())

  const rttMs = await (theirs.services.ping as Ping).ping(multiaddr(addressOf(ours)))

  assert.ok(rttMs >= 0)
  assert.equal(ours.libp2p.getConnections(theirs.peerId).length, 1)
})
