import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it, type TestContext } from 'node:test'
import {
  InvalidObjectIdError,
  InvalidRangeError,
  NoSpaceError,
  ObjectHashMismatchError,
  ObjectNotFoundError,
  ObjectSizeMismatchError,
  openStore,
  StoreClosedError,
  type Store,
} from '../../src/store/index.js'
import {
  chunkOf,
  collect,
  FIXTURE_OBJECT,
  fixedFree,
  fixtureObjectBytes,
  makeTempDir,
  namesIn,
  patternBytes,
  sha256Of,
  specOf,
  streamOf,
  withFixtureObject,
} from './helpers.js'

describe('store objects', () => {
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

  it('stores a fixture object streamed out of rev1.tgz and reads it back whole and in ranges', async () => {
    const { sha256, size } = FIXTURE_OBJECT
    await withFixtureObject(sha256, (bytes, entrySize) => store.put(sha256, entrySize, bytes))

    assert.equal(await store.has(sha256), true)
    assert.equal(await store.size(sha256), size)
    assert.deepEqual(await store.list(), [{ sha256, size }])
    const whole = await collect(store.read(sha256))
    assert.equal(whole.length, size)
    assert.equal(sha256Of(whole), sha256)

    const expected = await fixtureObjectBytes(sha256)
    const part = await collect(store.read(sha256, { start: 1000, end: 300_000 }))
    assert.deepEqual(part, expected.subarray(1000, 300_000))
    assert.equal((await collect(store.read(sha256, { start: 5, end: 5 }))).length, 0)
  })

  it('streams reads in bounded pieces', async () => {
    const bytes = patternBytes(3 * 1024 * 1024 + 17)
    await store.put(sha256Of(bytes), bytes.length, streamOf(bytes, 1024 * 1024))
    let largest = 0
    for await (const piece of store.read(sha256Of(bytes))) largest = Math.max(largest, piece.length)
    assert.ok(largest <= 256 * 1024, `largest piece ${largest} bytes`)
  })

  it('refuses bytes that do not hash to the id and leaves nothing behind', async () => {
    const bytes = patternBytes(200_000)
    const wrongId = sha256Of(patternBytes(200_000, 2))
    await assert.rejects(store.put(wrongId, bytes.length, streamOf(bytes)), (err: unknown) => {
      assert.ok(err instanceof ObjectHashMismatchError)
      assert.equal(err.sha256, wrongId)
      assert.equal(err.gotSha256, sha256Of(bytes))
      return true
    })
    assert.deepEqual(await namesIn(join(dir, 'objects')), [])
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
    assert.equal(await store.has(wrongId), false)
  })

  it('refuses a stream shorter than the declared size', async () => {
    const bytes = patternBytes(100_000)
    await assert.rejects(
      store.put(sha256Of(bytes), bytes.length + 1, streamOf(bytes)),
      (err: unknown) =>
        err instanceof ObjectSizeMismatchError &&
        err.expectedBytes === bytes.length + 1 &&
        err.gotBytes === bytes.length,
    )
    assert.deepEqual(await namesIn(join(dir, 'objects')), [])
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('stops reading a stream as soon as it overruns the declared size', async () => {
    const bytes = patternBytes(100_000)
    let piecesPulled = 0
    async function* counted(): AsyncIterable<Uint8Array> {
      for await (const piece of streamOf(bytes, 10_000)) {
        piecesPulled++
        yield piece
      }
    }
    await assert.rejects(store.put(sha256Of(bytes), 25_000, counted()), ObjectSizeMismatchError)
    assert.equal(piecesPulled, 3)
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('refuses an object that does not fit before reading any of it', async () => {
    await store.close()
    store = await openStore({ dataDir: dir, reserveBytes: 1000, statFreeBytes: fixedFree(51_000) })
    assert.equal(await store.freeBytes(), 50_000)

    const bytes = patternBytes(60_000)
    let pulled = false
    async function* source(): AsyncIterable<Uint8Array> {
      pulled = true
      yield bytes
    }
    await assert.rejects(store.put(sha256Of(bytes), bytes.length, source()), (err: unknown) => {
      assert.ok(err instanceof NoSpaceError)
      assert.equal(err.what, sha256Of(bytes))
      assert.equal(err.neededBytes, 60_000)
      assert.equal(err.freeBytes, 50_000)
      assert.match(err.message, /needs 60000 bytes, 50000 free/)
      return true
    })
    assert.equal(pulled, false)
    assert.deepEqual(await namesIn(join(dir, 'objects')), [])
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('keeps the copy it has when an object is put again, but still checks the new bytes', async () => {
    const bytes = patternBytes(50_000)
    const sha256 = sha256Of(bytes)
    await store.put(sha256, bytes.length, streamOf(bytes))
    const before = await stat(join(dir, 'objects', sha256))

    await store.put(sha256, bytes.length, [bytes])
    await assert.rejects(
      store.put(sha256, bytes.length, [patternBytes(50_000, 9)]),
      ObjectHashMismatchError,
    )
    const after = await stat(join(dir, 'objects', sha256))
    assert.equal(after.ino, before.ino)
    assert.equal(sha256Of(await readFile(join(dir, 'objects', sha256))), sha256)
  })

  it('rejects ids that are not 64 lowercase hex wherever a path would be built', async () => {
    const bad = ['../../etc/passwd', 'A'.repeat(64), 'a'.repeat(63), '']
    for (const id of bad) {
      await assert.rejects(store.has(id), InvalidObjectIdError)
      await assert.rejects(store.put(id, 0, []), InvalidObjectIdError)
      await assert.rejects(collect(store.read(id)), InvalidObjectIdError)
      await assert.rejects(store.remove(id), InvalidObjectIdError)
      await assert.rejects(store.readChunk(id, 0, 1024), InvalidObjectIdError)
      await assert.rejects(store.putRelease(id, new Uint8Array(1)), InvalidObjectIdError)
    }
  })

  it('reports a missing object and an impossible range with typed errors', async () => {
    const absent = sha256Of(patternBytes(10, 3))
    await assert.rejects(store.size(absent), ObjectNotFoundError)
    await assert.rejects(collect(store.read(absent)), ObjectNotFoundError)

    const bytes = patternBytes(1000)
    await store.put(sha256Of(bytes), bytes.length, [bytes])
    await assert.rejects(
      collect(store.read(sha256Of(bytes), { start: 10, end: 1001 })),
      InvalidRangeError,
    )
    await assert.rejects(
      collect(store.read(sha256Of(bytes), { start: 10, end: 9 })),
      InvalidRangeError,
    )
  })

  it('removes an object, and removing it again is not an error', async () => {
    const bytes = patternBytes(1000)
    await store.put(sha256Of(bytes), bytes.length, [bytes])
    await store.remove(sha256Of(bytes))
    assert.equal(await store.has(sha256Of(bytes)), false)
    await store.remove(sha256Of(bytes))
    assert.deepEqual(await store.list(), [])
  })

  it('stores an empty object', async () => {
    const empty = new Uint8Array(0)
    await store.put(sha256Of(empty), 0, [])
    assert.equal(await store.size(sha256Of(empty)), 0)
    assert.equal((await collect(store.read(sha256Of(empty)))).length, 0)
  })

  it('clears leftover temp files when it opens', async () => {
    await store.close()
    await writeFile(join(dir, 'tmp', 'abandoned.1234.abcdef'), 'half an object')
    await mkdir(join(dir, 'tmp', 'odd-dir'))
    store = await openStore({ dataDir: dir })
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('refuses to work after close', async () => {
    const bytes = patternBytes(3 * 1024)
    const partial = await store.openPartial({
      sha256: sha256Of(bytes),
      size: bytes.length,
      chunkBytes: 1024,
      chunkSha256: [0, 1, 2].map(i => sha256Of(bytes.subarray(i * 1024, (i + 1) * 1024))),
    })
    await store.close()
    await assert.rejects(store.has(sha256Of(bytes)), StoreClosedError)
    await assert.rejects(collect(store.read(sha256Of(bytes))), StoreClosedError)
    await assert.rejects(partial.writeChunk(0, bytes.subarray(0, 1024)), StoreClosedError)
    store = await openStore({ dataDir: dir })
  })

  it('creates its directories readable only by their owner', async () => {
    for (const name of ['objects', 'partial', 'tmp', 'quarantine', 'releases']) {
      const mode = (await stat(join(dir, name))).mode & 0o777
      assert.equal(mode & 0o077, 0, `${name} mode ${mode.toString(8)}`)
    }
  })
})

describe('store objects on a full filesystem', () => {
  /**
   * Run `use` on a store in a 1 MiB tmpfs: a real full disk. Mounting needs root, so elsewhere
   * the test is skipped. The free-space stub claims plenty of room, so writes start and run
   * into the real limit.
   */
  async function onTinyDisk(
    t: TestContext,
    use: (store: Store, dir: string) => Promise<void>,
  ): Promise<void> {
    const { dir, cleanup } = await makeTempDir()
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' })
    } catch {
      await cleanup()
      t.skip('cannot mount a tmpfs here (needs root)')
      return
    }
    try {
      const store = await openStore({ dataDir: dir, statFreeBytes: fixedFree(1 << 30) })
      try {
        await use(store, dir)
      } finally {
        await store.close()
      }
    } finally {
      execFileSync('umount', [dir])
      await cleanup()
    }
  }

  it('turns ENOSPC in the middle of a put into NoSpaceError and removes the temp file', async t => {
    await onTinyDisk(t, async (store, dir) => {
      const bytes = patternBytes(2 * 1024 * 1024)
      await assert.rejects(
        store.put(sha256Of(bytes), bytes.length, streamOf(bytes)),
        (err: unknown) => err instanceof NoSpaceError && err.neededBytes === bytes.length,
      )
      assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
      assert.deepEqual(await namesIn(join(dir, 'objects')), [])
    })
  })

  it('turns ENOSPC while writing a chunk into NoSpaceError and does not hold that chunk', async t => {
    await onTinyDisk(t, async (store, dir) => {
      const chunkBytes = 256 * 1024
      const bytes = patternBytes(8 * chunkBytes)
      const partial = await store.openPartial(specOf(bytes, chunkBytes))
      let refused: number | undefined
      for (let index = 0; index < partial.chunkCount && refused === undefined; index++) {
        try {
          await partial.writeChunk(index, chunkOf(bytes, chunkBytes, index))
        } catch (err) {
          assert.ok(err instanceof NoSpaceError, String(err))
          refused = index
        }
      }
      assert.notEqual(refused, undefined)
      assert.equal(partial.has(refused!), false)
      assert.equal(partial.verifiedCount, refused)
      assert.deepEqual(await namesIn(join(dir, 'objects')), [])
      await partial.close()
    })
  })
})
