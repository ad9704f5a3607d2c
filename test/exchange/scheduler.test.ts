import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  ChunkRefusedError,
  Download,
  NoSourceError,
  type ChunkFetcher,
  type ChunkFetchRequest,
  type DownloadOptions,
} from '../../src/exchange/index.js'
import { DownloadPeer } from '../../src/exchange/download-peer.js'
import { contentOf, MemoryStore, sha256Of } from './helpers.js'

const CHUNK = 1024

/** A fetcher whose answers the test gives by hand. */
class ManualPeer {
  readonly calls: Array<{
    request: ChunkFetchRequest
    signal: AbortSignal
    resolve(bytes: Uint8Array): void
    reject(err: Error): void
  }> = []
  readonly fetch: ChunkFetcher = (request, signal) => {
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>()
    this.calls.push({ request, signal, resolve, reject })
    return promise
  }
  pending() {
    return this.calls.filter(call => !call.signal.aborted)
  }
}

/** A fetcher that answers at once from the real bytes (optionally spoiled). */
function honest(objects: Uint8Array[], spoil?: (bytes: Uint8Array) => Uint8Array): ChunkFetcher {
  return async request => {
    const bytes = objects[request.objectIndex]!
    const chunk = bytes.subarray(request.chunkIndex * CHUNK, (request.chunkIndex + 1) * CHUNK)
    return spoil === undefined ? chunk : spoil(chunk)
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setImmediate(resolve))
  }
}

function fixture(sizes: number[], options: DownloadOptions = {}, store = new MemoryStore()) {
  const objects = sizes.map(size => new Uint8Array(randomBytes(size)))
  const content = contentOf(new Map(objects.map(bytes => [sha256Of(bytes), bytes])), CHUNK)
  // contentOf sorts by id: keep the bytes in the same order as the release lists them
  const ordered = content.objects.map(o => objects.find(bytes => sha256Of(bytes) === o.sha256)!)
  const download = new Download({ releaseId: 'r1', release: content, store, options })
  return { download, content, objects: ordered, store }
}

const all = (count: number) => new Uint8Array(Math.ceil(count / 8)).fill(0xff)

describe('Download (scheduler)', () => {
  it('refuses options that cannot work and chunk sizes no peer would send', () => {
    const content = contentOf(new Map([['a'.repeat(64), new Uint8Array(10)]]), CHUNK)
    const store = new MemoryStore()
    assert.throws(
      () =>
        new Download({
          releaseId: 'r',
          release: content,
          store,
          options: { maxInFlightPerPeer: 0 },
        }),
      /maxInFlightPerPeer: expected an integer >= 1, got 0/,
    )
    assert.throws(
      () =>
        new Download({
          releaseId: 'r',
          release: { ...content, chunkBytes: 64 * 1024 * 1024 },
          store,
        }),
      { name: 'UnsupportedChunkSizeError' },
    )
  })

  it('asks for the rarest chunk first', async () => {
    // a fixed "random" keeps peers in the order added, so the wide peer chooses first
    const { download } = fixture([4 * CHUNK], { maxInFlightTotal: 1, random: () => 0.5 })
    const wide = new ManualPeer()
    const narrow = new ManualPeer()
    download.addPeer('wide', wide.fetch)
    download.addPeer('narrow', narrow.fetch)
    download.peerHasObject('wide', 0, all(4))
    download.peerHasObject('narrow', 0, Uint8Array.of(0b0011))
    await download.start()
    await until(() => wide.calls.length + narrow.calls.length === 1, 'one request')
    assert.equal(narrow.calls.length, 0)
    assert.ok([2, 3].includes(wide.calls[0]!.request.chunkIndex), 'chunk 2 or 3: held by one peer')
    download.cancel()
  })

  it('asks first for chunks no other peer is already fetching', async () => {
    const firstAsked = async (otherIsFetching: boolean) => {
      const { download } = fixture([2 * CHUNK], { maxInFlightTotal: 1, random: () => 0.5 })
      const seed = new ManualPeer()
      download.addPeer('seed', seed.fetch)
      download.peerHasObject('seed', 0, all(2))
      download.addPeer('other', new ManualPeer().fetch)
      if (otherIsFetching) download.peerIsFetching('other', 0, 0)
      await download.start()
      await until(() => seed.calls.length === 1, 'one request')
      download.cancel()
      return seed.calls[0]!.request.chunkIndex
    }
    assert.equal(await firstAsked(false), 0, 'with equal rarity and tie-break, chunk 0 comes first')
    assert.equal(await firstAsked(true), 1, 'chunk 0 is being fetched by the other peer')
  })

  it('asks a fast only peer for equally rare chunks in release order, whatever the tie-break', async () => {
    // a tie-break that favours later chunks: each draw is lower than the one before
    let draw = 1
    const random = () => (draw -= 0.01)
    const firstAsked = async (peers: number, rateMiBs = 64) => {
      const { download } = fixture([8 * CHUNK], {
        maxInFlightPerPeer: 4,
        random,
        // the rate a download assumes before its first chunk arrives
        initialRateBytesPerSecond: rateMiBs * 1024 * 1024,
      })
      const seed = new ManualPeer()
      download.addPeer('seed', seed.fetch)
      download.peerHasObject('seed', 0, all(8))
      for (let other = 1; other < peers; other++) {
        download.addPeer(`p${other}`, new ManualPeer().fetch)
      }
      await download.start()
      await until(() => seed.calls.length === 4, 'four requests')
      download.cancel()
      return seed.calls.map(call => call.request.chunkIndex)
    }
    assert.deepEqual(await firstAsked(1), [0, 1, 2, 3])
    // with another peer to trade with, or on a slow link, the tie-break decides
    assert.deepEqual(await firstAsked(2), [7, 6, 5, 4])
    assert.deepEqual(await firstAsked(1, 1), [7, 6, 5, 4])
  })

  it('keeps at most maxInFlightPerPeer requests at one peer', async () => {
    const { download, objects } = fixture([10 * CHUNK], { maxInFlightPerPeer: 3 })
    const peer = new ManualPeer()
    download.addPeer('p', peer.fetch)
    download.peerHasObject('p', 0, all(10))
    await download.start()
    await until(() => peer.calls.length === 3, 'three requests')
    const first = peer.calls[0]!
    first.resolve(
      objects[0]!.subarray(
        first.request.chunkIndex * CHUNK,
        (first.request.chunkIndex + 1) * CHUNK,
      ),
    )
    await until(() => peer.calls.length === 4, 'a fourth request after one answer')
    assert.equal(peer.pending().length, 4, 'the answered one stays counted only until written')
    await until(() => download.stats().chunksDone === 1, 'one chunk written')
    assert.equal(peer.calls.length, 4)
    download.cancel()
  })

  it('keeps at most maxInFlightTotal requests over all peers', async () => {
    const { download } = fixture([20 * CHUNK], { maxInFlightPerPeer: 4, maxInFlightTotal: 5 })
    const peers = [new ManualPeer(), new ManualPeer(), new ManualPeer()]
    peers.forEach((peer, i) => {
      download.addPeer(`p${i}`, peer.fetch)
      download.peerHasObject(`p${i}`, 0, all(20))
    })
    await download.start()
    await until(() => peers.reduce((n, p) => n + p.calls.length, 0) === 5, 'five requests')
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(
      peers.reduce((n, p) => n + p.calls.length, 0),
      5,
    )
    assert.ok(peers.every(peer => peer.calls.length <= 4))
    download.cancel()
  })

  it('bounds the bytes in flight: large chunks get fewer requests at once', async () => {
    const { download } = fixture([20 * CHUNK], {
      maxInFlightTotal: 10,
      maxInFlightBytes: 3 * CHUNK,
    })
    const peer = new ManualPeer()
    download.addPeer('p', peer.fetch)
    download.peerHasObject('p', 0, all(20))
    await download.start()
    await until(() => peer.calls.length === 3, 'three requests')
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(peer.calls.length, 3)
    download.cancel()
  })

  it('re-asks a timed-out chunk of another peer and cancels the slow request', async () => {
    const { download, objects } = fixture([2 * CHUNK], {
      timeoutFloorMs: 30,
      maxInFlightPerPeer: 1,
      maxRequestsPerChunk: 1,
    })
    const stalled = new ManualPeer()
    download.addPeer('stalled', stalled.fetch)
    download.peerHasObject('stalled', 0, all(2))
    await download.start()
    await until(() => stalled.calls.length === 1, 'request to the stalled peer')
    download.addPeer('good', honest(objects))
    download.peerHasObject('good', 0, all(2))
    const stats = await download.done
    assert.ok(stats.timeouts >= 1)
    assert.equal(stalled.calls[0]!.signal.aborted, true, 'the slow request was cancelled')
    assert.equal(stats.chunksDone, 2)
  })

  it('still takes a slow answer after its timeout, and cancels it only after the hard timeout', async () => {
    const options = { timeoutFloorMs: 30, maxConsecutiveTimeouts: 10 }
    const slow = fixture([CHUNK], options)
    const peer = new ManualPeer()
    slow.download.addPeer('p', peer.fetch)
    slow.download.peerHasObject('p', 0, all(1))
    await slow.download.start()
    await until(() => slow.download.stats().timeouts === 1, 'the first timeout')
    assert.equal(peer.calls[0]!.signal.aborted, false, 'the late request stays open')
    peer.calls[0]!.resolve(slow.objects[0]!)
    assert.equal((await slow.download.done).bans.length, 0)

    const stuck = fixture([CHUNK], options)
    const silent = new ManualPeer()
    stuck.download.addPeer('p', silent.fetch)
    stuck.download.peerHasObject('p', 0, all(1))
    await stuck.download.start()
    await until(() => silent.calls.length === 2, 'the chunk asked again')
    assert.equal(silent.calls[0]!.signal.aborted, true, 'the first request was cancelled first')
    stuck.download.cancel()
  })

  it('sizes a timeout to the bytes queued at the peer and its observed rate, with a floor', () => {
    const MiB = 1024 * 1024
    const peer = new DownloadPeer('p', 8, 4, MiB, MiB)
    peer.begin(4 * MiB, 0)
    // before any data: the initial rate (1 MiB/s) → 4 MiB take 4 s, × factor 2
    assert.equal(peer.timeoutMs(1000, 2, MiB), 8000)
    peer.noteData(MiB, 100) // 1 MiB after 100 ms busy: about 10 MiB/s
    assert.equal(peer.timeoutMs(1000, 2, MiB), 1000, 'the floor wins')
    const sized = peer.timeoutMs(100, 2, MiB)
    assert.ok(sized > 750 && sized < 850, `${sized} ms: 4 MiB at ~10 MiB/s, × 2`)
  })

  it('measures a rate over busy time only: an idle gap does not lower it', () => {
    const MiB = 1024 * 1024
    const peer = new DownloadPeer('p', 8, 8, MiB, MiB)
    peer.begin(MiB, 0)
    peer.noteData(MiB, 100)
    peer.end(MiB, 100)
    const before = peer.rate(MiB)
    peer.begin(MiB, 5100) // five idle seconds later
    peer.noteData(MiB, 5200)
    assert.ok(Math.abs(peer.rate(MiB) - before) / before < 0.05, `${before} then ${peer.rate(MiB)}`)
  })

  it("sizes a peer's window to about two seconds of its rate, and shrinks it after a timeout", () => {
    const MiB = 1024 * 1024
    const peer = new DownloadPeer('p', 8, 6, MiB, MiB)
    assert.equal(peer.cap, 2, 'unknown peer: one request in transfer and one waiting behind it')
    peer.begin(MiB, 0)
    peer.noteData(MiB, 500) // about 2 MiB/s
    assert.equal(peer.cap, 5, 'ceil of ~4.1 chunks in two seconds')
    peer.noteData(MiB, 600) // now about 4 MiB/s: more than maxCap allows
    assert.equal(peer.cap, 6)
    peer.noteTimeout(3, 700, MiB, 710)
    assert.equal(peer.cap, 1)
    peer.noteSuccess()
    assert.equal(peer.cap, 2)
  })

  it('leaves a peer that answered busy alone for a while, without blame, then asks it again', async () => {
    const { download, objects } = fixture([CHUNK])
    const asked: number[] = []
    download.addPeer('crowded', async request => {
      asked.push(performance.now())
      if (asked.length === 1) {
        throw new ChunkRefusedError('crowded', request.sha256, request.chunkIndex, 'busy')
      }
      return honest(objects)(request, new AbortController().signal)
    })
    download.peerHasObject('crowded', 0, all(1))
    await download.start()
    const stats = await download.done
    assert.equal(asked.length, 2, 'asked once more after the busy answer')
    assert.ok(asked[1]! - asked[0]! >= 80, `asked again after ${asked[1]! - asked[0]!} ms`)
    assert.deepEqual(stats.bans, [])
    assert.equal(stats.bytesReceivedByPeer.crowded, CHUNK)
  })

  it('on "elsewhere" asks another holder for that chunk and keeps asking the first for others', async () => {
    const { download, objects } = fixture([2 * CHUNK], { maxInFlightPerPeer: 1 })
    const seedAsked: number[] = []
    download.addPeer('seed', async request => {
      seedAsked.push(request.chunkIndex)
      if (seedAsked.length === 1) {
        throw new ChunkRefusedError('seed', request.sha256, request.chunkIndex, 'elsewhere')
      }
      return honest(objects)(request, new AbortController().signal)
    })
    download.peerHasObject('seed', 0, all(2))
    await download.start()
    await until(() => seedAsked.length >= 2, 'a second request of the seed')
    const refused = seedAsked[0]!
    assert.notEqual(seedAsked[1], refused, 'not the refused chunk again at once')

    // the copy it was handed to turns up at another peer, which is asked for it
    const relayAsked: number[] = []
    download.addPeer('relay', async request => {
      relayAsked.push(request.chunkIndex)
      return honest(objects)(request, new AbortController().signal)
    })
    download.peerHasChunk('relay', 0, refused)
    const stats = await download.done
    assert.deepEqual(relayAsked, [refused])
    assert.deepEqual(stats.bans, [])
  })

  it('asks a peer that said "elsewhere" again later when nobody else has the chunk', async () => {
    const { download, objects } = fixture([CHUNK])
    const asked: number[] = []
    download.addPeer('seed', async request => {
      asked.push(performance.now())
      if (asked.length === 1) {
        throw new ChunkRefusedError('seed', request.sha256, request.chunkIndex, 'elsewhere')
      }
      return honest(objects)(request, new AbortController().signal)
    })
    download.peerHasObject('seed', 0, all(1))
    await download.start()
    const stats = await download.done
    assert.equal(asked.length, 2)
    assert.ok(asked[1]! - asked[0]! >= 900, `asked again after ${asked[1]! - asked[0]!} ms`)
    assert.equal(stats.bytesReceivedByPeer.seed, CHUNK)
  })

  it('asks again after every "elsewhere", also one that ends after an earlier wake-up', async () => {
    // chunk 0 is refused at once, chunk 1 later: its retry time falls after the wake-up set for
    // chunk 0, and must not be forgotten once that one has fired
    const { download, objects } = fixture([2 * CHUNK], { maxInFlightPerPeer: 2 })
    const asked: Array<{ chunk: number; at: number }> = []
    download.addPeer('seed', async request => {
      asked.push({ chunk: request.chunkIndex, at: performance.now() })
      if (asked.filter(call => call.chunk === request.chunkIndex).length === 1) {
        if (request.chunkIndex === 1) await new Promise(resolve => setTimeout(resolve, 300))
        throw new ChunkRefusedError('seed', request.sha256, request.chunkIndex, 'elsewhere')
      }
      return honest(objects)(request, new AbortController().signal)
    })
    download.peerHasObject('seed', 0, all(2))
    await download.start()
    const gaveUp = new Promise<'hung'>(resolve => setTimeout(resolve, 5000, 'hung').unref())
    assert.notEqual(await Promise.race([download.done, gaveUp]), 'hung')
    assert.deepEqual(asked.map(call => call.chunk).sort(), [0, 0, 1, 1])
  })

  it('gives a request a second timeout while its peer is still sending, instead of re-asking', async () => {
    const options = { timeoutFloorMs: 200, maxInFlightPerPeer: 1, maxRequestsPerChunk: 1 }
    const { download, objects } = fixture([CHUNK], options)
    const busy = new ManualPeer()
    download.addPeer('busy', busy.fetch)
    download.peerHasObject('busy', 0, all(1))
    download.addPeer('idle', honest(objects))
    await download.start()
    await until(() => busy.calls.length === 1, 'the request')
    // bytes of earlier answers keep arriving from it until just before the first timeout
    const started = performance.now()
    while (performance.now() - started < 180) {
      download.noteTraffic('busy')
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    download.peerHasObject('idle', 0, all(1))
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(download.stats().timeouts, 0, 'no timeout counted while it was sending')
    busy.calls[0]!.resolve(objects[0]!)
    const stats = await download.done
    assert.equal(stats.bytesReceivedByPeer.busy, CHUNK)
    assert.equal(stats.bytesReceivedByPeer.idle, undefined, 'the chunk was not asked twice')
  })

  it('counts a burst of timeouts of requests queued together as one strike', () => {
    const peer = new DownloadPeer('p', 8, 8, 1024, 1024)
    peer.noteTimeout(0, 10, 1024, 1000)
    peer.noteTimeout(1, 20, 1024, 1001)
    peer.noteTimeout(2, 30, 1024, 1002)
    assert.equal(peer.consecutiveTimeouts, 1)
    peer.noteTimeout(3, 1500, 1024, 3000)
    assert.equal(peer.consecutiveTimeouts, 2)
  })

  it('in the endgame asks a second peer for a slow chunk and cancels the loser', async () => {
    const { download, objects } = fixture([CHUNK], { timeoutFloorMs: 60_000 })
    const slow = new ManualPeer()
    const fast = new ManualPeer()
    download.addPeer('slow', slow.fetch)
    download.peerHasObject('slow', 0, all(1))
    await download.start()
    await until(() => slow.calls.length === 1, 'request to the slow peer')
    download.addPeer('fast', fast.fetch)
    download.peerHasObject('fast', 0, all(1))
    await until(() => fast.calls.length === 1, 'duplicate request')
    fast.calls[0]!.resolve(objects[0]!)
    const stats = await download.done
    assert.equal(stats.duplicateRequests, 1)
    assert.equal(stats.cancelledRequests, 1)
    assert.equal(slow.calls[0]!.signal.aborted, true)
  })

  it('bans a peer that sends a bad chunk and fetches it elsewhere; nothing bad is written', async () => {
    const { download, objects, store } = fixture([3 * CHUNK], { maxInFlightTotal: 1 })
    const liar = honest(objects, bytes => bytes.map(b => b ^ 0xff))
    download.addPeer('liar', liar)
    download.peerHasObject('liar', 0, all(3))
    const bans: string[] = []
    download.on('ban', ban => bans.push(`${ban.peer}:${ban.reason}`))
    await download.start()
    await until(() => bans.length === 1, 'the ban')
    download.addPeer('good', honest(objects))
    download.peerHasObject('good', 0, all(3))
    const stats = await download.done
    assert.deepEqual(bans, ['liar:bad-hash'])
    assert.equal(stats.bytesReceivedByPeer.liar, CHUNK)
    assert.equal(store.refused.length, 1, 'the store refused the bad chunk')
    assert.equal(store.writes.length - store.refused.length, 3, 'only good chunks were written')
    download.addPeer('liar', liar)
    assert.equal(download.isBanned('liar'), true, 'a banned peer stays banned')
  })

  it('bans a peer that sends a short chunk', async () => {
    const { download, objects } = fixture([2 * CHUNK], { maxInFlightTotal: 1, random: () => 0.5 })
    download.addPeer(
      'short',
      honest(objects, bytes => bytes.subarray(0, 10)),
    )
    download.peerHasObject('short', 0, all(2))
    download.addPeer('good', honest(objects))
    download.peerHasObject('good', 0, all(2))
    await download.start()
    const stats = await download.done
    assert.equal(stats.chunksDone, 2)
    assert.deepEqual(
      stats.bans.map(ban => `${ban.peer}:${ban.reason}`),
      ['short:wrong-size'],
    )
    assert.equal(stats.bytesReceivedByPeer.short, 10)
  })

  it('resumes: only the chunks missing from the store are requested', async () => {
    const store = new MemoryStore()
    const { download, objects, content } = fixture([5 * CHUNK], {}, store)
    const partial = await store.openPartial({
      sha256: content.objects[0]!.sha256,
      size: 5 * CHUNK,
      chunkBytes: CHUNK,
      chunkSha256: content.objects[0]!.chunks,
    })
    await partial.writeChunk(1, objects[0]!.subarray(CHUNK, 2 * CHUNK))
    await partial.writeChunk(3, objects[0]!.subarray(3 * CHUNK, 4 * CHUNK))
    const asked: number[] = []
    const fetcher = honest(objects)
    download.addPeer('p', (request, signal) => {
      asked.push(request.chunkIndex)
      return fetcher(request, signal)
    })
    download.peerHasObject('p', 0, all(5))
    await download.start()
    const stats = await download.done
    assert.deepEqual(asked.sort(), [0, 2, 4])
    assert.equal(stats.chunksHeldAtStart, 2)
  })

  it('fails with NoSourceError when no peer holds what is missing and waiting is off', async () => {
    const { download } = fixture([2 * CHUNK], { waitForPeers: false, noSourceTimeoutMs: 20 })
    download.addPeer('empty', new ManualPeer().fetch)
    await download.start()
    await assert.rejects(download.done, NoSourceError)
  })

  it('with waitForPeers reports waiting and finishes once a peer with the chunks comes', async () => {
    const { download, objects } = fixture([2 * CHUNK], { noSourceTimeoutMs: 20 })
    const waiting = new Promise(resolve => download.once('waiting', resolve))
    await download.start()
    assert.deepEqual(await waiting, { missingChunks: 2 })
    download.addPeer('late', honest(objects))
    download.peerHasObject('late', 0, all(2))
    assert.equal((await download.done).chunksDone, 2)
  })

  it('believes a refusal: the chunk is asked of another peer, not again of the same', async () => {
    const { download, objects } = fixture([CHUNK], { maxInFlightTotal: 1 })
    let refusals = 0
    download.addPeer('forgetful', async request => {
      refusals++
      throw new ChunkRefusedError('forgetful', request.sha256, request.chunkIndex, 'missing')
    })
    download.peerHasObject('forgetful', 0, all(1))
    await download.start()
    await until(() => refusals === 1, 'the refusal')
    download.addPeer('good', honest(objects))
    download.peerHasObject('good', 0, all(1))
    await download.done
    assert.equal(refusals, 1)
  })
})
