import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  findObjectProviders,
  InvalidObjectIdError,
  objectCid,
  provideObject,
  type ObjectProvider,
  type PeerEvent,
} from '../../src/discovery/index.js'
import { sha256Hex } from '../../src/util/hex.js'
import { statesDir } from '../fixtures.js'
import {
  addressOf,
  createLoopbackNode,
  nextEvent,
  startLoopbackNode,
} from '../node/swarm-helpers.js'

test('an object id maps to the CIDv1 raw sha2-256 of its bytes', async () => {
  const bytes = new TextEncoder().encode('hello')

  const cid = objectCid(sha256Hex(bytes))

  assert.equal(cid.toString(), 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq')
  assert.ok(
    cid.equals(
      (await import('multiformats/cid')).CID.createV1(raw.code, await sha256.digest(bytes)),
    ),
  )
})

test('every object of the real Pantavisor states maps to a CID that carries its sha256', async () => {
  const ids = new Set<string>()
  for (const file of await readdir(statesDir)) {
    const state = JSON.parse(await readFile(join(statesDir, file), 'utf8')) as Record<
      string,
      unknown
    >
    for (const value of Object.values(state)) {
      if (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)) ids.add(value)
    }
  }
  assert.ok(ids.size > 5, `found ${ids.size} object ids in the fixtures`)

  for (const id of ids) {
    const cid = objectCid(id)
    assert.equal(cid.version, 1)
    assert.equal(cid.code, raw.code)
    assert.equal(cid.multihash.code, sha256.code)
    assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), id)
  }
})

test('an object id that is not 64 lowercase hex digits is refused, quoted', () => {
  for (const bad of ['ABCD'.repeat(16), 'abc', `${'a'.repeat(63)}g`, '']) {
    assert.throws(
      () => objectCid(bad),
      (err: Error) => {
        assert.ok(err instanceof InvalidObjectIdError)
        assert.ok(err.message.includes(JSON.stringify(bad)))
        return true
      },
    )
  }
})

test('a provider record put by A is found from C through B, with addresses C can dial', async t => {
  const objectId = sha256Hex('object held by A only')
  const b = await startLoopbackNode(t, { liveness: false })
  const a = await createLoopbackNode(t, { liveness: false, staticPeers: [addressOf(b)] })
  await a.start()

  // A knows only B, so the record can only land on B (and in A's own store).
  await provideObject(a, objectId, { signal: AbortSignal.timeout(10_000) })

  const c = await createLoopbackNode(t, { liveness: false, staticPeers: [addressOf(b)] })
  const cReachedB = nextEvent<PeerEvent>(c.discovery, 'peer:connected')
  await c.start()
  await cReachedB
  assert.equal(c.libp2p.getConnections(a.peerId).length, 0, 'C is not connected to A')

  const found: ObjectProvider[] = []
  for await (const provider of findObjectProviders(c, objectId, { timeoutMs: 10_000 })) {
    found.push(provider)
  }

  assert.deepEqual(
    found.map(p => p.peerId.toString()),
    [a.peerId.toString()],
  )
  assert.ok(found[0]!.multiaddrs.length > 0, "the DHT kept the provider's LAN addresses")
  const connection = await c.libp2p.dial(a.peerId)
  assert.equal(connection.remotePeer.toString(), a.peerId.toString())
})

test('a look-up for an object nobody holds ends empty', async t => {
  const b = await startLoopbackNode(t, { liveness: false })
  const a = await createLoopbackNode(t, { liveness: false, staticPeers: [addressOf(b)] })
  await a.start()

  const found: ObjectProvider[] = []
  for await (const provider of findObjectProviders(a, sha256Hex('nobody has this'), {
    timeoutMs: 10_000,
  })) {
    found.push(provider)
  }

  assert.deepEqual(found, [])
})

test('a look-up that cannot start (no DHT peers yet) ends quietly at timeoutMs', async t => {
  const lonely = await startLoopbackNode(t, { liveness: false })

  const started = Date.now()
  const found: ObjectProvider[] = []
  for await (const provider of findObjectProviders(lonely, sha256Hex('x'), { timeoutMs: 300 })) {
    found.push(provider)
  }

  assert.deepEqual(found, [])
  assert.ok(Date.now() - started >= 290, 'it waited for peers until the timeout')
})

test('a look-up aborted by the caller throws the abort reason', async t => {
  const a = await startLoopbackNode(t, { liveness: false })
  const controller = new AbortController()
  const reason = new Error('caller gave up')
  setTimeout(() => controller.abort(reason), 50)

  await assert.rejects(
    async () => {
      for await (const _ of findObjectProviders(a, sha256Hex('x'), { signal: controller.signal })) {
        // nothing to see
      }
    },
    (err: unknown) => err === reason,
  )
})
