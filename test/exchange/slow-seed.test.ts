import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import type { Download } from '../../src/exchange/index.js'
import {
  connect,
  holderNotAccepting,
  contentOf,
  makeRelease,
  readObject,
  revisionObjects,
  Scratch,
  seed,
  type TestDevice,
  type TestRelease,
} from './helpers.js'

const KiB = 1024

/** Rejects when a download has not finished within `ms`: a stuck one fails instead of hanging. */
async function doneWithin(download: Download, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`download not done within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([download.done, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('downloads on slow and late peers', () => {
  let objects: Map<string, Buffer>
  let release: TestRelease
  const scratch = new Scratch()

  before(async () => {
    const all = await revisionObjects('rev1')
    // one object of ~820 KiB in 64 KiB chunks: several chunks queue at a seed, quick to move
    const [picked] = [...all.entries()].filter(([, bytes]) => bytes.byteLength === 843_776)
    objects = new Map([picked!])
    release = makeRelease('line-3', 1, contentOf(objects, 64 * KiB))
  })
  after(() => scratch.cleanup())

  it('a seed far slower than the assumed rate is not banned and everyone completes', async () => {
    // 256 KiB/s shared by five: each gets ~50 KiB/s while 8 MiB/s is assumed, so first
    // timeouts (100 ms floor) come long before the first chunk, as on a crowded 10 Mbit/s link
    const origin = await scratch.device({ uploadRateBytesPerSecond: 256 * KiB })
    await seed(origin, release, objects)
    const downloaders: TestDevice[] = []
    for (let i = 0; i < 5; i++) {
      const options = { timeoutFloorMs: 100, initialRateBytesPerSecond: 8192 * KiB }
      const device = await scratch.device({ download: options })
      device.book.accept(release)
      await connect(device, origin)
      for (const other of downloaders) await connect(device, other)
      downloaders.push(device)
    }

    const downloads = downloaders.map(device =>
      device.exchange.download(release.summary.releaseId, release.content),
    )
    const all = await Promise.all(downloads.map(download => download.done))

    for (const [at, stats] of all.entries()) {
      assert.equal(stats.chunksDone, stats.chunksTotal)
      assert.deepEqual(
        stats.bans.filter(ban => ban.peer === origin.peer),
        [],
        `downloader ${at} banned the seed`,
      )
    }
    const [sha256, bytes] = [...objects.entries()][0]!
    for (const device of downloaders)
      assert.ok((await readObject(device.store, sha256)).equals(bytes))
  })

  it('hears of a peer that accepts the release after the download subscribed to it', async () => {
    // the peer holds the bytes but refuses the subscription until it accepts the release, which
    // it does only when the test says so, not when the other device announces it
    const late = await holderNotAccepting(scratch, release, objects)
    const fresh = await scratch.device()
    fresh.book.accept(release)
    await connect(fresh, late)

    const download = fresh.exchange.download(release.summary.releaseId, release.content)
    await once(download, 'waiting')
    late.book.accept(release)
    await doneWithin(download, 10_000)

    assert.equal(download.stats().chunksDone, download.stats().chunksTotal)
    assert.equal(download.stats().bytesReceivedByPeer[late.peer], 843_776)
  })
})
