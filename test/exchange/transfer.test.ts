import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NoSourceError, type ExchangeStore } from '../../src/exchange/index.js'
import type { Store } from '../../src/store/index.js'
import {
  connect,
  contentOf,
  holderNotAccepting,
  makeRelease,
  MiB,
  readObject,
  revisionObjects,
  Scratch,
  seed,
  type TestRelease,
} from './helpers.js'

const REV1_OBJECT_BYTES = 21_578_551

describe('exchange between real nodes', () => {
  let objects: Map<string, Buffer>
  let release: TestRelease
  const scratch = new Scratch()

  before(async () => {
    objects = await revisionObjects('rev1')
    release = makeRelease('line-3', 1, contentOf(objects, MiB))
  })
  after(() => scratch.cleanup())

  it('moves every object of rev1 from a seed to a second device, byte for byte', async () => {
    const a = await scratch.device()
    const b = await scratch.device()
    await seed(a, release, objects)
    b.book.accept(release)
    await connect(b, a)

    const stats = await b.exchange.download(release.summary.releaseId, release.content).done

    assert.equal(stats.chunksDone, stats.chunksTotal)
    assert.equal(stats.chunksTotal, 27)
    for (const [sha256, bytes] of objects) {
      assert.equal(await b.store.has(sha256), true, `object ${sha256} complete on b`)
      assert.ok((await readObject(b.store, sha256)).equals(bytes))
    }
    assert.equal(stats.bytesReceivedByPeer[a.peer], REV1_OBJECT_BYTES)
    assert.equal(a.exchange.uploadStats().bytesServedByPeer[b.peer], REV1_OBJECT_BYTES)
  })

  it('a device still downloading serves the chunks it has verified to a third one', async () => {
    const origin = await scratch.device({ uploadRateBytesPerSecond: 16 * MiB })
    await seed(origin, release, objects)
    const middle = await scratch.device()
    const far = await scratch.device()
    middle.book.accept(release)
    far.book.accept(release)
    await connect(middle, origin)
    await connect(far, middle)

    const middleDownload = middle.exchange.download(release.summary.releaseId, release.content)
    const farDownload = far.exchange.download(release.summary.releaseId, release.content)
    let middleDone = false
    let farStoredWhileMiddleBusy = 0
    void middleDownload.done.then(() => (middleDone = true))
    farDownload.on('stored', () => {
      if (!middleDone) farStoredWhileMiddleBusy++
    })
    await Promise.all([middleDownload.done, farDownload.done])

    assert.ok(farStoredWhileMiddleBusy > 0, 'far got chunks before middle held every object')
    assert.equal(far.exchange.uploadStats().bytesServed, 0)
    assert.equal(middle.exchange.uploadStats().bytesServedByPeer[far.peer], REV1_OBJECT_BYTES)
    for (const [sha256, bytes] of objects) {
      assert.ok((await readObject(far.store, sha256)).equals(bytes))
    }
  })

  it('resumes after a stop mid-download and fetches only the missing chunks', async () => {
    const source = await scratch.device()
    await seed(source, release, objects)
    const dataDir = await scratch.dir()
    const first = await scratch.device({}, undefined, dataDir)
    first.book.accept(release)
    await connect(first, source)
    const download = first.exchange.download(release.summary.releaseId, release.content, {
      maxInFlightTotal: 2,
    })
    await new Promise<void>(resolve =>
      download.on('progress', progress => {
        if (progress.chunksDone >= 10) resolve()
      }),
    )
    await scratch.stop(first)
    await assert.rejects(download.done, { name: 'DownloadCancelledError' })
    const servedBefore = source.exchange.uploadStats().chunksServed

    const again = await scratch.device({}, undefined, dataDir)
    again.book.accept(release)
    await connect(again, source)
    const stats = await again.exchange.download(release.summary.releaseId, release.content).done

    assert.ok(stats.chunksHeldAtStart >= 10, `held ${stats.chunksHeldAtStart} at restart`)
    assert.ok(stats.chunksHeldAtStart < stats.chunksTotal)
    assert.equal(stats.requests, stats.chunksTotal - stats.chunksHeldAtStart)
    const servedAfter = source.exchange.uploadStats().chunksServed - servedBefore
    assert.equal(servedAfter, stats.chunksTotal - stats.chunksHeldAtStart)
    for (const [sha256, bytes] of objects) {
      assert.ok((await readObject(again.store, sha256)).equals(bytes))
    }
  })

  it('serves nothing of a release it has not accepted, even with the objects on disk', async () => {
    // the asker's announcement on connecting does not get it accepted either
    const holder = await holderNotAccepting(scratch, release, objects)
    const asker = await scratch.device()
    asker.book.accept(release)
    await connect(asker, holder)

    const download = asker.exchange.download(release.summary.releaseId, release.content, {
      waitForPeers: false,
      noSourceTimeoutMs: 300,
    })
    await assert.rejects(download.done, NoSourceError)
    assert.equal(holder.exchange.uploadStats().bytesServed, 0)
    assert.equal(download.stats().requests, 0)
  })

  it('never serves more requests at once than maxConcurrentUploads', async () => {
    let reading = 0
    let mostReading = 0
    const slowDisk = (store: Store): ExchangeStore => ({
      has: sha256 => store.has(sha256),
      chunkMap: (sha256, chunkBytes) => store.chunkMap(sha256, chunkBytes),
      openPartial: spec => store.openPartial(spec),
      readChunk: async (sha256, index, chunkBytes) => {
        reading++
        mostReading = Math.max(mostReading, reading)
        try {
          // a slow disk, so that requests from three peers overlap
          await new Promise(resolve => setTimeout(resolve, 5))
          return await store.readChunk(sha256, index, chunkBytes)
        } finally {
          reading--
        }
      },
    })
    const server = await scratch.device({ maxConcurrentUploads: 2 }, slowDisk)
    await seed(server, release, objects)
    const clients = [await scratch.device(), await scratch.device(), await scratch.device()]
    for (const client of clients) {
      client.book.accept(release)
      await connect(client, server)
    }
    await Promise.all(
      clients.map(
        client => client.exchange.download(release.summary.releaseId, release.content).done,
      ),
    )
    assert.equal(mostReading, 2)
    assert.equal(server.exchange.uploadStats().peakConcurrentUploads, 2)
    assert.equal(server.exchange.uploadStats().bytesServed, 3 * REV1_OBJECT_BYTES)
  })

  it('with serveOnlyAsSeed, devices take everything from the seed and nothing from each other', async () => {
    const options = (isSeed: boolean) => ({ serveOnlyAsSeed: true, isSeed: () => isSeed })
    const origin = await scratch.device(options(true))
    await seed(origin, release, objects)
    const early = await scratch.device(options(false))
    early.book.accept(release)
    await connect(early, origin)
    await early.exchange.download(release.summary.releaseId, release.content).done

    const late = await scratch.device(options(false))
    late.book.accept(release)
    await connect(late, origin)
    await connect(late, early)
    const stats = await late.exchange.download(release.summary.releaseId, release.content).done

    assert.equal(stats.bytesReceivedByPeer[origin.peer], REV1_OBJECT_BYTES)
    assert.equal(stats.bytesReceivedByPeer[early.peer] ?? 0, 0)
    assert.equal(early.exchange.uploadStats().bytesServed, 0)
  })
})
