import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import {
  CHUNK_PROTOCOL,
  HAVE_PROTOCOL,
  RELEASE_PROTOCOL,
  type BanEvent,
  type ExchangeStore,
} from '../../src/exchange/index.js'
import type { Store } from '../../src/store/index.js'
import {
  connect,
  contentOf,
  createTestNode,
  makeRelease,
  MiB,
  readObject,
  revisionObjects,
  Scratch,
  seed,
  sha256Of,
  type TestRelease,
} from './helpers.js'

type Lie = 'corrupt' | 'truncate' | 'stall'

/** A store that answers chunk reads with lies (its have-maps tell the truth). */
function lying(lie: Lie, asked: { count: number }) {
  return (store: Store): ExchangeStore => ({
    has: sha256 => store.has(sha256),
    chunkMap: (sha256, chunkBytes) => store.chunkMap(sha256, chunkBytes),
    openPartial: spec => store.openPartial(spec),
    readChunk: async (sha256, index, chunkBytes) => {
      asked.count++
      const bytes = await store.readChunk(sha256, index, chunkBytes)
      if (bytes === undefined) return bytes
      if (lie === 'corrupt') return bytes.map(byte => byte ^ 0x5a)
      if (lie === 'truncate') return bytes.subarray(0, Math.floor(bytes.byteLength / 2))
      return new Promise<Uint8Array>(() => {})
    },
  })
}

/** Resolves with how the stream ended: 'reset'/'aborted' when the other side cut it. */
function ended(stream: Stream): Promise<string> {
  return new Promise(resolve => {
    stream.addEventListener('close', () => resolve(stream.status), { once: true })
  })
}

describe('exchange against misbehaving peers', () => {
  let objects: Map<string, Buffer>
  let release: TestRelease
  const scratch = new Scratch()

  before(async () => {
    objects = await revisionObjects('rev1')
    release = makeRelease('line-3', 1, contentOf(objects, MiB))
  })
  after(() => scratch.cleanup())

  it('finishes among a corrupting, a truncating and a stalling peer; liars banned at once', async () => {
    const asked = { corrupt: { count: 0 }, truncate: { count: 0 }, stall: { count: 0 } }
    const honest = await scratch.device()
    const corrupter = await scratch.device({}, lying('corrupt', asked.corrupt))
    const truncater = await scratch.device({}, lying('truncate', asked.truncate))
    const staller = await scratch.device({}, lying('stall', asked.stall))
    for (const device of [honest, corrupter, truncater, staller])
      await seed(device, release, objects)

    // bad chunks reach the store, which checks them: none may be taken
    const badWrites: string[] = []
    let refusedWrites = 0
    const spy = (store: Store): ExchangeStore => ({
      has: sha256 => store.has(sha256),
      chunkMap: (sha256, chunkBytes) => store.chunkMap(sha256, chunkBytes),
      readChunk: (sha256, index, chunkBytes) => store.readChunk(sha256, index, chunkBytes),
      openPartial: async spec => {
        const partial = await store.openPartial(spec)
        const write = partial.writeChunk.bind(partial)
        partial.writeChunk = async (index, bytes) => {
          const good = sha256Of(bytes) === spec.chunkSha256[index]
          try {
            const result = await write(index, bytes)
            if (!good) badWrites.push(`${spec.sha256}:${index}`)
            return result
          } catch (err) {
            if (!good) refusedWrites++
            throw err
          }
        }
        return partial
      },
    })
    const downloader = await scratch.device({}, spy)
    downloader.book.accept(release)
    for (const peer of [honest, corrupter, truncater, staller]) await connect(downloader, peer)

    const download = downloader.exchange.download(release.summary.releaseId, release.content, {
      timeoutFloorMs: 300,
      maxConsecutiveTimeouts: 2,
    })
    const bansWithBytes: Array<BanEvent & { bytesAtBan: number }> = []
    download.on('ban', ban => {
      const bytesAtBan = download.stats().bytesReceivedByPeer[ban.peer] ?? 0
      bansWithBytes.push({ ...ban, bytesAtBan })
    })
    const stats = await download.done

    for (const [sha256, bytes] of objects) {
      assert.ok((await readObject(downloader.store, sha256)).equals(bytes))
    }
    assert.deepEqual(badWrites, [])
    assert.ok(refusedWrites >= 1, "the corrupter's chunk was refused by the store")
    const reasons = Object.fromEntries(bansWithBytes.map(ban => [ban.peer, ban.reason]))
    assert.equal(reasons[corrupter.peer], 'bad-hash')
    assert.equal(reasons[truncater.peer], 'wrong-size')
    assert.equal(reasons[honest.peer], undefined)
    for (const ban of bansWithBytes.filter(ban => ban.reason !== 'stalled')) {
      // banned on its first answer: what had arrived from it was exactly that one chunk, and
      // nothing from it was even looked at afterwards
      const object = release.content.objects.find(o => o.sha256 === ban.chunk!.sha256)!
      const length = Math.min(MiB, object.size - ban.chunk!.chunkIndex * MiB)
      const sent = ban.reason === 'wrong-size' ? Math.floor(length / 2) : length
      assert.equal(ban.bytesAtBan, sent, `${ban.reason} peer banned after one chunk`)
      assert.equal(stats.bytesReceivedByPeer[ban.peer], ban.bytesAtBan)
      assert.equal(bansWithBytes.filter(other => other.peer === ban.peer).length, 1)
    }
    assert.ok(asked.stall.count > 0, 'the staller was asked')
    assert.equal(stats.bytesReceivedByPeer[staller.peer] ?? 0, 0)
    assert.ok(
      stats.timeouts + stats.cancelledRequests >= 1,
      'its requests timed out or lost to a duplicate elsewhere',
    )
  })

  for (const protocol of [CHUNK_PROTOCOL, HAVE_PROTOCOL, RELEASE_PROTOCOL]) {
    it(`closes a ${protocol} stream that announces an oversized message; the node lives on`, async () => {
      const victim = await scratch.device()
      await seed(victim, release, objects)
      const attacker = await createTestNode()
      try {
        await attacker.dial(victim.node.getMultiaddrs()[0]!)
        const stream = await attacker.dialProtocol(victim.node.peerId, protocol)
        const closed = ended(stream)
        const header = new Uint8Array(4)
        new DataView(header.buffer).setUint32(0, 64 * MiB)
        stream.send(header)
        assert.equal(await closed, 'reset')
      } finally {
        await attacker.stop()
      }
      const client = await scratch.device()
      client.book.accept(release)
      await connect(client, victim)
      const stats = await client.exchange.download(release.summary.releaseId, release.content).done
      assert.equal(stats.chunksDone, stats.chunksTotal)
    })
  }

  it('closes a chunk stream that sends a malformed request', async () => {
    const victim = await scratch.device()
    await seed(victim, release, objects)
    const attacker = await createTestNode()
    try {
      await attacker.dial(victim.node.getMultiaddrs()[0]!)
      const stream = await attacker.dialProtocol(victim.node.peerId, CHUNK_PROTOCOL)
      const closed = ended(stream)
      const junk = new TextEncoder().encode('\u0001{"t":"get","id":-1}')
      const header = new Uint8Array(4)
      new DataView(header.buffer).setUint32(0, junk.byteLength)
      stream.send(header)
      stream.send(junk)
      assert.equal(await closed, 'reset')
      assert.equal(victim.exchange.uploadStats().bytesServed, 0)
    } finally {
      await attacker.stop()
    }
  })
})
