import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { dropStoreCopies } from '../../src/node/drop-copies.js'
import { layeredStore } from '../../src/node/layered-store.js'
import { connect, makeRelease, readObject, Scratch, seed } from '../exchange/helpers.js'
import { installed, pantavisorHolding, revisions } from './pantavisor-objects.js'

const REV1_OBJECT_BYTES = 21_578_551

describe('serving a release from Pantavisor over the exchange', () => {
  const scratch = new Scratch()
  after(() => scratch.cleanup())

  it('moves rev1 from a device that holds it only in Pantavisor to another, byte for byte', async t => {
    const { rev1 } = await revisions()
    const release = makeRelease('line-3', 1, rev1.content)
    const { chunks, client } = await pantavisorHolding(t, rev1.objects)

    // device a: installed rev1, then dropped its own copies
    const a = await scratch.device({}, store =>
      layeredStore(store, chunks, installed(rev1.content)),
    )
    await seed(a, release, rev1.objects)
    const dropped = await dropStoreCopies({
      store: a.store,
      listPantavisorObjects: () => client.listObjects(),
      installed: { id: release.summary.releaseId, objects: rev1.content.objects },
      stillNeeded: [],
    })
    assert.equal(dropped.removed.length, 9)
    assert.deepEqual(await a.store.list(), [])

    const b = await scratch.device()
    b.book.accept(release)
    await connect(b, a)
    const stats = await b.exchange.download(release.summary.releaseId, release.content).done

    assert.equal(stats.chunksDone, 27)
    assert.equal(stats.bytesReceivedByPeer[a.peer], REV1_OBJECT_BYTES)
    for (const [sha256, bytes] of rev1.objects) {
      assert.equal(await b.store.verifyObject(sha256), 'good')
      assert.ok((await readObject(b.store, sha256)).equals(bytes), `object ${sha256}`)
    }
    const served = chunks.stats()
    assert.equal(served.chunksServed, 27)
    assert.equal(served.corruptObjects, 0)
    t.diagnostic(
      `pv-ctrl: ${served.streamsOpened} streams, ${served.bytesRead} bytes read for ` +
        `${REV1_OBJECT_BYTES} served (${(served.bytesRead / REV1_OBJECT_BYTES).toFixed(2)}x), ` +
        `${served.cacheHits} cache hits`,
    )
  })
})
