import assert from 'node:assert/strict'
import { open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { openStore, type Store } from '../../src/store/index.js'
import { chunkOf, makeTempDir, namesIn, patternBytes, sha256Of, specOf } from './helpers.js'

const CHUNK_BYTES = 16 * 1024

describe('store maintenance', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let store: Store

  beforeEach(async () => {
    ;({ dir, cleanup } = await makeTempDir())
    store = await openStore({ dataDir: dir, reserveBytes: 0 })
  })

  afterEach(async () => {
    await store.close()
    await cleanup()
  })

  async function putPattern(seed: number, length = 40_000): Promise<string> {
    const bytes = patternBytes(length, seed)
    await store.put(sha256Of(bytes), bytes.length, [bytes])
    return sha256Of(bytes)
  }

  async function flipByte(path: string, position: number): Promise<void> {
    const handle = await open(path, 'r+')
    const one = Buffer.alloc(1)
    await handle.read(one, 0, 1, position)
    one[0] = one[0]! ^ 0xff
    await handle.write(one, 0, 1, position)
    await handle.close()
  }

  it('fsck quarantines an object whose bytes rotted and leaves good ones alone', async () => {
    const good = await putPattern(1)
    const bad = await putPattern(2)
    await flipByte(join(dir, 'objects', bad), 12_345)

    const report = await store.fsck()
    assert.equal(report.objectsChecked, 2)
    assert.deepEqual(report.objectsBad, [bad])
    assert.deepEqual(report.quarantined, [bad])
    assert.equal(await store.has(bad), false)
    assert.equal(await store.has(good), true)

    const quarantined = await namesIn(join(dir, 'quarantine'))
    assert.equal(quarantined.length, 1)
    assert.ok(quarantined[0]!.startsWith(bad))
    const kept = await readFile(join(dir, 'quarantine', quarantined[0]!))
    assert.equal(kept.length, 40_000)
  })

  it('verifyObject says good, missing, or bad (and then quarantines the rotten copy)', async () => {
    const good = await putPattern(4)
    const bad = await putPattern(5)
    await flipByte(join(dir, 'objects', bad), 7)

    assert.equal(await store.verifyObject(good), 'good')
    assert.equal(await store.verifyObject('0'.repeat(64)), 'missing')
    assert.equal(await store.verifyObject(bad), 'bad')
    assert.equal(await store.has(bad), false)
    assert.equal(await store.has(good), true)
    const quarantined = await namesIn(join(dir, 'quarantine'))
    assert.equal(quarantined.length, 1)
    assert.ok(quarantined[0]!.startsWith(bad))
  })

  it('fsck drops rotten chunks from the record of a closed and of an open partial', async () => {
    const closedBytes = patternBytes(5 * CHUNK_BYTES, 3)
    const closedSpec = specOf(closedBytes, CHUNK_BYTES)
    const closed = await store.openPartial(closedSpec)
    for (const index of [0, 1, 2]) {
      await closed.writeChunk(index, chunkOf(closedBytes, CHUNK_BYTES, index))
    }
    await closed.close()

    const openBytes = patternBytes(5 * CHUNK_BYTES, 4)
    const openSpec = specOf(openBytes, CHUNK_BYTES)
    const stillOpen = await store.openPartial(openSpec)
    for (const index of [3, 4]) {
      await stillOpen.writeChunk(index, chunkOf(openBytes, CHUNK_BYTES, index))
    }

    await flipByte(join(dir, 'partial', closedSpec.sha256), 1 * CHUNK_BYTES + 7)
    await flipByte(join(dir, 'partial', openSpec.sha256), 4 * CHUNK_BYTES + 7)

    const report = await store.fsck()
    assert.equal(report.chunksChecked, 5)
    const bad = report.chunksBad.map(({ sha256, index }) => `${sha256}:${index}`).sort()
    assert.deepEqual(bad, [`${closedSpec.sha256}:1`, `${openSpec.sha256}:4`].sort())
    assert.equal(stillOpen.has(4), false)
    assert.equal(stillOpen.has(3), true)
    assert.deepEqual(await store.chunkMap(closedSpec.sha256, CHUNK_BYTES), Uint8Array.of(0b101))

    // The open partial keeps working after its record was rewritten under it.
    await stillOpen.writeChunk(4, chunkOf(openBytes, CHUNK_BYTES, 4))
    await stillOpen.close()
    const resumed = await store.openPartial(openSpec)
    assert.deepEqual(resumed.missing(), [0, 1, 2])
    await resumed.close()
  })

  it('gc removes every object and closed partial not kept, and counts the bytes', async () => {
    const keepMe = await putPattern(5, 10_000)
    const dropMe = await putPattern(6, 20_000)
    const partialBytes = patternBytes(4 * CHUNK_BYTES, 8)
    const partialSpec = specOf(partialBytes, CHUNK_BYTES)
    const partial = await store.openPartial(partialSpec)
    await partial.writeChunk(0, chunkOf(partialBytes, CHUNK_BYTES, 0))
    await partial.close()
    const allocated = (await stat(join(dir, 'partial', partialSpec.sha256))).blocks * 512

    const result = await store.gc(new Set([keepMe]))
    assert.deepEqual(result.removed, [dropMe, partialSpec.sha256].sort())
    assert.equal(result.freedBytes, 20_000 + allocated)
    assert.deepEqual(await store.list(), [{ sha256: keepMe, size: 10_000 }])
    assert.deepEqual(await namesIn(join(dir, 'partial')), [])
  })

  it('gc leaves an open partial alone and keeps the partials it is told to keep', async () => {
    const bytesA = patternBytes(2 * CHUNK_BYTES, 9)
    const bytesB = patternBytes(2 * CHUNK_BYTES, 10)
    const open = await store.openPartial(specOf(bytesA, CHUNK_BYTES))
    const kept = await store.openPartial(specOf(bytesB, CHUNK_BYTES))
    await kept.close()

    const result = await store.gc(new Set([sha256Of(bytesB)]))
    assert.deepEqual(result.removed, [])
    assert.equal(
      (await namesIn(join(dir, 'partial'))).length,
      6,
      'three files for each of the two partials',
    )
    await open.writeChunk(0, chunkOf(bytesA, CHUNK_BYTES, 0))
    await open.close()
  })
})
