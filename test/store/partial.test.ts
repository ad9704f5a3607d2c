import assert from 'node:assert/strict'
import { appendFile, open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, before, beforeEach, describe, it } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  ChunkIndexError,
  ChunkMismatchError,
  ChunkSizeError,
  InvalidChunkSpecError,
  NoSpaceError,
  ObjectHashMismatchError,
  openStore,
  PartialConflictError,
  type ChunkedObjectSpec,
  type Store,
} from '../../src/store/index.js'
import {
  chunkOf,
  FIXTURE_OBJECT,
  fixedFree,
  fixtureObjectBytes,
  makeTempDir,
  namesIn,
  patternBytes,
  sha256Of,
  specOf,
} from './helpers.js'
import { WRITE_BACK_BYTES } from '../../src/store/write-back.js'

const CHUNK_BYTES = 64 * 1024

describe('store partial objects', () => {
  let fixture: Buffer
  let spec: ChunkedObjectSpec
  let dir: string
  let cleanup: () => Promise<void>
  let store: Store

  before(async () => {
    fixture = await fixtureObjectBytes(FIXTURE_OBJECT.sha256)
    spec = specOf(fixture, CHUNK_BYTES)
  })

  beforeEach(async () => {
    ;({ dir, cleanup } = await makeTempDir())
    store = await openStore({ dataDir: dir, reserveBytes: 0 })
  })

  afterEach(async () => {
    await store.close()
    await cleanup()
  })

  const chunk = (index: number): Uint8Array => chunkOf(fixture, CHUNK_BYTES, index)

  it('publishes an object whose chunks arrive out of order and concurrently', async () => {
    const partial = await store.openPartial(spec)
    assert.equal(partial.chunkCount, 14)
    assert.equal(spec.sha256, FIXTURE_OBJECT.sha256)

    const order = [...Array(partial.chunkCount).keys()].reverse()
    const last = order.pop()!
    await Promise.all(order.map(index => partial.writeChunk(index, chunk(index))))
    assert.equal(partial.isComplete(), false)
    assert.equal(await store.has(spec.sha256), false)
    assert.deepEqual(partial.missing(), [last])

    assert.equal(await partial.writeChunk(last, chunk(last)), 'stored')
    assert.equal(partial.isComplete(), true)
    assert.equal(partial.verifiedCount, partial.chunkCount)
    assert.deepEqual(await readFile(join(dir, 'objects', spec.sha256)), fixture)
    assert.deepEqual(await namesIn(join(dir, 'partial')), [])
    await partial.close()
  })

  it('takes a chunk as the pieces it arrived in and publishes the object filled in order', async () => {
    const partial = await store.openPartial(spec)
    for (let index = 0; index < partial.chunkCount; index++) {
      const bytes = chunk(index)
      const cut = Math.floor(bytes.byteLength / 2)
      const pieces = {
        byteLength: bytes.byteLength,
        [Symbol.iterator]: () =>
          [bytes.subarray(0, cut), new Uint8Array(0), bytes.subarray(cut)][Symbol.iterator](),
      }
      assert.equal(await partial.writeChunk(index, pieces), 'stored')
    }
    assert.equal(partial.isComplete(), true)
    assert.deepEqual(await readFile(join(dir, 'objects', spec.sha256)), fixture)
    await partial.close()
  })

  it('takes over a Uint8ArrayList: copies and empties it, concurrently and out of order', async () => {
    const partial = await store.openPartial(spec)
    const lists = [...Array(partial.chunkCount).keys()].map(index => {
      const bytes = Buffer.from(chunk(index))
      const cut = Math.floor(bytes.byteLength / 3)
      return new Uint8ArrayList(bytes.subarray(0, cut), bytes.subarray(cut))
    })
    const order = [...lists.keys()].reverse()

    // all at once: each chunk in flight needs a buffer of its own
    const results = await Promise.all(order.map(index => partial.writeChunk(index, lists[index]!)))

    assert.deepEqual(new Set(results), new Set(['stored']))
    for (const list of lists) assert.equal(list.byteLength, 0, 'emptied')
    assert.equal(partial.isComplete(), true)
    assert.deepEqual(await readFile(join(dir, 'objects', spec.sha256)), fixture)
    await partial.close()
  })

  it('reuses its copy buffers from chunk to chunk without mixing their bytes', async () => {
    const partial = await store.openPartial(spec)
    for (let index = 0; index < partial.chunkCount; index += 2) {
      await partial.writeChunk(index, new Uint8ArrayList(chunk(index)))
    }
    for (let index = 1; index < partial.chunkCount; index += 2) {
      assert.deepEqual(await partial.readChunk(index - 1), chunk(index - 1))
      await partial.writeChunk(index, new Uint8ArrayList(chunk(index)))
    }
    assert.deepEqual(await readFile(join(dir, 'objects', spec.sha256)), fixture)
    await partial.close()
  })

  it('refuses a forged Uint8ArrayList chunk after taking it over', async () => {
    const partial = await store.openPartial(spec)
    const forged = Buffer.from(chunk(5))
    forged[9] = forged[9]! ^ 0xff
    const list = new Uint8ArrayList(forged.subarray(0, 10), forged.subarray(10))

    await assert.rejects(partial.writeChunk(5, list), ChunkMismatchError)

    assert.equal(list.byteLength, 0)
    assert.equal(partial.has(5), false)
    assert.equal(await partial.writeChunk(5, new Uint8ArrayList(chunk(5))), 'stored')
    await partial.close()
  })

  it('refuses a chunk with the wrong bytes or the wrong length, and does not hold it', async () => {
    const partial = await store.openPartial(spec)
    const forged = Buffer.from(chunk(3))
    forged[100] = forged[100]! ^ 0xff
    await assert.rejects(partial.writeChunk(3, forged), (err: unknown) => {
      assert.ok(err instanceof ChunkMismatchError)
      assert.equal(err.index, 3)
      assert.equal(err.expectedSha256, spec.chunkSha256[3])
      assert.equal(err.gotSha256, sha256Of(forged))
      return true
    })
    await assert.rejects(partial.writeChunk(3, chunk(3).subarray(1)), (err: unknown) => {
      assert.ok(err instanceof ChunkSizeError)
      assert.equal(err.expectedBytes, CHUNK_BYTES)
      assert.equal(err.gotBytes, CHUNK_BYTES - 1)
      return true
    })
    await assert.rejects(partial.writeChunk(14, chunk(13)), ChunkIndexError)
    assert.equal(partial.has(3), false)
    assert.equal(partial.verifiedCount, 0)
    assert.equal(await partial.readChunk(3), undefined)
    // The last chunk is the short one.
    assert.equal(await partial.writeChunk(13, chunk(13)), 'stored')
    await partial.close()
  })

  it('stores a chunk written twice at once only once', async () => {
    const partial = await store.openPartial(spec)
    const results = await Promise.all([
      partial.writeChunk(5, chunk(5)),
      partial.writeChunk(5, chunk(5)),
    ])
    assert.deepEqual(results.sort(), ['already', 'stored'])
    assert.equal(partial.verifiedCount, 1)
    await partial.close()
  })

  it('resumes after close with only the other chunks missing', async () => {
    const first = await store.openPartial(spec)
    for (const index of [0, 4, 7, 13]) await first.writeChunk(index, chunk(index))
    await first.close()
    await store.close()

    store = await openStore({ dataDir: dir, reserveBytes: 0 })
    const again = await store.openPartial(spec)
    assert.equal(again.verifiedCount, 4)
    assert.deepEqual(again.missing(), [1, 2, 3, 5, 6, 8, 9, 10, 11, 12])
    for (const index of again.missing()) await again.writeChunk(index, chunk(index))
    assert.equal(again.isComplete(), true)
    assert.deepEqual(await readFile(join(dir, 'objects', spec.sha256)), fixture)
    await again.close()
  })

  it('resumes after the store was abandoned without close, as after a crash', async () => {
    const first = await store.openPartial(spec)
    for (const index of [2, 3]) await first.writeChunk(index, chunk(index))
    const abandoned = store

    store = await openStore({ dataDir: dir, reserveBytes: 0 })
    const again = await store.openPartial(spec)
    assert.equal(again.verifiedCount, 2)
    assert.equal(again.has(2) && again.has(3), true)
    await again.close()
    await abandoned.close()
  })

  it('drops a recorded chunk whose bytes were corrupted on disk when it resumes', async () => {
    const first = await store.openPartial(spec)
    for (const index of [1, 2, 6]) await first.writeChunk(index, chunk(index))
    await first.close()

    const data = await open(join(dir, 'partial', spec.sha256), 'r+')
    await data.write(Buffer.from('rot'), 0, 3, 2 * CHUNK_BYTES + 500)
    await data.close()

    const again = await store.openPartial(spec)
    assert.equal(again.has(1), true)
    assert.equal(again.has(2), false)
    assert.equal(again.has(6), true)
    assert.equal(await store.readChunk(spec.sha256, 2, CHUNK_BYTES), undefined)
    // The record was rewritten without it: two 4-byte entries.
    assert.equal((await stat(join(dir, 'partial', `${spec.sha256}.chunks`))).size, 8)
    await again.close()
  })

  it('ignores a torn record at the end of the chunk log', async () => {
    const first = await store.openPartial(spec)
    await first.writeChunk(9, chunk(9))
    await first.close()
    await appendFile(join(dir, 'partial', `${spec.sha256}.chunks`), Buffer.from([4, 0]))

    const again = await store.openPartial(spec)
    assert.deepEqual(
      [...Array(14).keys()].filter(index => again.has(index)),
      [9],
    )
    await again.close()
  })

  it('serves chunks from a partial (open or not) and from a complete object', async () => {
    const partial = await store.openPartial(spec)
    await partial.writeChunk(4, chunk(4))
    assert.deepEqual(await partial.readChunk(4), chunk(4))
    assert.deepEqual(await store.readChunk(spec.sha256, 4, CHUNK_BYTES), chunk(4))
    assert.equal(await store.readChunk(spec.sha256, 5, CHUNK_BYTES), undefined)
    // Another chunking is served when every chunk it overlaps is held.
    assert.deepEqual(
      await store.readChunk(spec.sha256, 8, CHUNK_BYTES / 2),
      fixture.subarray(4 * CHUNK_BYTES, 4 * CHUNK_BYTES + CHUNK_BYTES / 2),
    )
    assert.equal(await store.readChunk(spec.sha256, 2, CHUNK_BYTES * 2), undefined)
    await partial.close()
    assert.deepEqual(await store.readChunk(spec.sha256, 4, CHUNK_BYTES), chunk(4))

    const again = await store.openPartial(spec)
    for (const index of again.missing()) await again.writeChunk(index, chunk(index))
    await again.close()
    assert.deepEqual(await store.readChunk(spec.sha256, 13, CHUNK_BYTES), chunk(13))
    assert.deepEqual(await store.readChunk(spec.sha256, 1, 500_000), fixture.subarray(500_000))
    assert.equal(await store.readChunk(spec.sha256, 14, CHUNK_BYTES), undefined)
  })

  it('does not serve a chunk of a closed partial that rotted on disk', async () => {
    const partial = await store.openPartial(spec)
    await partial.writeChunk(0, chunk(0))
    await partial.close()
    const data = await open(join(dir, 'partial', spec.sha256), 'r+')
    await data.write(Buffer.from([0]), 0, 1, 10)
    await data.close()
    assert.equal(await store.readChunk(spec.sha256, 0, CHUNK_BYTES), undefined)
  })

  it('maps held chunks LSB first, all ones for a complete object, nothing for an unknown one', async () => {
    assert.equal(await store.chunkMap(spec.sha256, CHUNK_BYTES), undefined)
    const partial = await store.openPartial(spec)
    for (const index of [0, 3, 8, 13]) await partial.writeChunk(index, chunk(index))
    assert.deepEqual(
      await store.chunkMap(spec.sha256, CHUNK_BYTES),
      Uint8Array.of(0b0000_1001, 0b0010_0001),
    )
    await partial.close()
    assert.deepEqual(
      await store.chunkMap(spec.sha256, CHUNK_BYTES),
      Uint8Array.of(0b0000_1001, 0b0010_0001),
    )

    const bytes = patternBytes(10 * 1000)
    await store.put(sha256Of(bytes), bytes.length, [bytes])
    assert.deepEqual(await store.chunkMap(sha256Of(bytes), 1000), Uint8Array.of(0xff, 0b11))
  })

  it('refuses to start an object that does not fit and leaves nothing behind', async () => {
    await store.close()
    store = await openStore({ dataDir: dir, reserveBytes: 0, statFreeBytes: fixedFree(500_000) })
    await assert.rejects(store.openPartial(spec), (err: unknown) => {
      assert.ok(err instanceof NoSpaceError)
      assert.equal(err.what, spec.sha256)
      assert.equal(err.neededBytes, spec.size)
      assert.equal(err.freeBytes, 500_000)
      return true
    })
    assert.deepEqual(await namesIn(join(dir, 'partial')), [])
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('counts the bytes an open partial still needs against free space', async () => {
    await store.close()
    const free = 10 * 1024 * 1024
    store = await openStore({ dataDir: dir, reserveBytes: 1024, statFreeBytes: fixedFree(free) })
    const partial = await store.openPartial(spec)
    assert.equal(await store.freeBytes(), free - 1024 - spec.size)
    await partial.writeChunk(0, chunk(0))
    assert.equal(await store.freeBytes(), free - 1024 - spec.size + CHUNK_BYTES)
    await partial.close()
    assert.equal(await store.freeBytes(), free - 1024)
  })

  it('publishes nothing when the chunk list lied about the whole object', async () => {
    const other = patternBytes(fixture.length, 7)
    const lying: ChunkedObjectSpec = { ...specOf(other, CHUNK_BYTES), sha256: spec.sha256 }
    const partial = await store.openPartial(lying)
    const last = partial.chunkCount - 1
    for (let index = 0; index < last; index++) {
      await partial.writeChunk(index, chunkOf(other, CHUNK_BYTES, index))
    }
    await assert.rejects(
      partial.writeChunk(last, chunkOf(other, CHUNK_BYTES, last)),
      (err: unknown) => err instanceof ObjectHashMismatchError && err.gotSha256 === sha256Of(other),
    )
    assert.equal(partial.isComplete(), false)
    assert.deepEqual(await namesIn(join(dir, 'objects')), [])
    assert.deepEqual(await namesIn(join(dir, 'partial')), [])
    await partial.close()
  })

  it('publishes nothing when an early flush of its bytes failed', async () => {
    // more than WRITE_BACK_BYTES, so a flush starts before the last chunk
    const big = patternBytes(WRITE_BACK_BYTES + 1024 * 1024, 3)
    const bigSpec = specOf(big, 1024 * 1024)
    const probe = await open(join(dir, 'probe'), 'w')
    const prototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> }
    await probe.close()
    const datasync = prototype.datasync
    prototype.datasync = () =>
      Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    try {
      const partial = await store.openPartial(bigSpec)
      const last = partial.chunkCount - 1
      for (let index = 0; index < last; index++) {
        await partial.writeChunk(index, chunkOf(big, 1024 * 1024, index))
      }
      await assert.rejects(partial.writeChunk(last, chunkOf(big, 1024 * 1024, last)), /EIO/)
      assert.equal(partial.isComplete(), false)
      assert.deepEqual(await namesIn(join(dir, 'objects')), [])
      await partial.close()
    } finally {
      prototype.datasync = datasync
    }
  })

  it('reports complete at once for an object already held', async () => {
    const bytes = patternBytes(300_000)
    await store.put(sha256Of(bytes), bytes.length, [bytes])
    const partial = await store.openPartial(specOf(bytes, CHUNK_BYTES))
    assert.equal(partial.isComplete(), true)
    assert.deepEqual(partial.missing(), [])
    assert.equal(await partial.writeChunk(1, chunkOf(bytes, CHUNK_BYTES, 1)), 'already')
    assert.deepEqual(await partial.readChunk(4), chunkOf(bytes, CHUNK_BYTES, 4))
    await partial.close()
  })

  it('fills an empty object through its one empty chunk', async () => {
    const empty = new Uint8Array(0)
    const partial = await store.openPartial(specOf(empty, CHUNK_BYTES))
    assert.equal(partial.chunkCount, 1)
    assert.equal(await partial.writeChunk(0, empty), 'stored')
    assert.equal(partial.isComplete(), true)
    assert.equal(await store.size(sha256Of(empty)), 0)
    await partial.close()
  })

  it('shares one partial between two openers and refuses a conflicting spec', async () => {
    const a = await store.openPartial(spec)
    const b = await store.openPartial(spec)
    await a.writeChunk(2, chunk(2))
    assert.equal(b.has(2), true)
    await a.close()
    assert.equal(await b.writeChunk(3, chunk(3)), 'stored')

    const otherChunking = specOf(fixture, CHUNK_BYTES * 2)
    await assert.rejects(store.openPartial(otherChunking), PartialConflictError)
    await b.close()
  })

  it('starts over when the partial on disk was made with another chunking', async () => {
    const a = await store.openPartial(spec)
    await a.writeChunk(0, chunk(0))
    await a.close()
    const wide = await store.openPartial(specOf(fixture, CHUNK_BYTES * 4))
    assert.equal(wide.verifiedCount, 0)
    assert.equal(wide.chunkCount, 4)
    await wide.close()
  })

  it('rejects a spec that contradicts itself', async () => {
    await assert.rejects(
      store.openPartial({ ...spec, chunkSha256: spec.chunkSha256.slice(1) }),
      InvalidChunkSpecError,
    )
    await assert.rejects(store.openPartial({ ...spec, chunkBytes: 0 }), InvalidChunkSpecError)
  })
})
