import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { openSync, readFileSync, readSync, truncateSync, writeSync, closeSync } from 'node:fs'
import { describe, it, type TestContext } from 'node:test'
import {
  PvCtrlClient,
  PvCtrlNotFoundError,
  PvCtrlObjectCorruptError,
  PvCtrlTimeoutError,
  PvCtrlUnavailableError,
  PvObjectChunks,
  type ChunkedObject,
  type PvObjectChunksOptions,
  type PvObjectSource,
} from '../../src/pantavisor/index.js'
import { describeObject } from '../../src/release/index.js'
import { revisionFixture } from '../fixtures.js'
import { startPvCtrlEmulator, type PvCtrlEmulator } from '../sim/pvctrl-emulator.js'
import { rawServer, withExportObject } from './helpers.js'

const MiB = 1024 * 1024
// bsp/kernel.img of rev1 (fixtures/revisions/MANIFEST.md): 12 chunks of 1 MiB
const KERNEL_SHA = 'b9ea6660d2abac0b2d65aaf11d07cb9d9012b4beb1287d6eb539fccecd1aebd2'
const KERNEL_BYTES = 11_655_104

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

/** A seeded shuffle, so a failure can be replayed. */
function shuffled(count: number, seed: number): number[] {
  const order = [...Array(count).keys()]
  let state = seed
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
}

async function emulatorWith(
  t: TestContext,
): Promise<{ emulator: PvCtrlEmulator; pv: PvCtrlClient }> {
  const emulator = await startPvCtrlEmulator()
  t.after(() => emulator.close())
  return { emulator, pv: new PvCtrlClient({ socketPath: emulator.socketPath }) }
}

/** Uploads bytes to the emulator and describes them with `chunkBytes`. */
async function putObject(
  pv: PvCtrlClient,
  bytes: Uint8Array,
  chunkBytes: number,
): Promise<ChunkedObject> {
  const described = await describeObject([bytes], chunkBytes)
  await pv.putObject(described.sha256, bytes.byteLength, once(bytes))
  return { ...described, chunkBytes }
}

async function putKernel(pv: PvCtrlClient, emulator: PvCtrlEmulator): Promise<ChunkedObject> {
  await withExportObject(revisionFixture('rev1'), KERNEL_SHA, (size, bytes) =>
    pv.putObject(KERNEL_SHA, size, bytes),
  )
  const described = await describeObject([readFileSync(emulator.objectPath(KERNEL_SHA))], MiB)
  return { ...described, chunkBytes: MiB }
}

function sliceOf(whole: Buffer, object: ChunkedObject, index: number): Buffer {
  return whole.subarray(index * object.chunkBytes, (index + 1) * object.chunkBytes)
}

/** Counts streams open at once through a client. */
function countingSource(pv: PvCtrlClient): { source: PvObjectSource; peak: () => number } {
  let active = 0
  let peak = 0
  const source: PvObjectSource = {
    listObjects: options => pv.listObjects(options),
    async *getObject(sha256, options) {
      active++
      peak = Math.max(peak, active)
      try {
        yield* pv.getObject(sha256, options)
      } finally {
        active--
      }
    },
  }
  return { source, peak: () => peak }
}

/** Reads every chunk in `order`, one at a time, as one downloader's requests arrive. */
async function readInOrder(
  pv: PvCtrlClient,
  object: ChunkedObject,
  order: number[],
  options: PvObjectChunksOptions,
): Promise<{ chunks: Map<number, Uint8Array>; reader: PvObjectChunks }> {
  const reader = new PvObjectChunks(pv, options)
  const chunks = new Map<number, Uint8Array>()
  for (const index of order) chunks.set(index, await reader.readChunk(object, index))
  return { chunks, reader }
}

describe('PvObjectChunks', () => {
  it('serves a real 12-chunk object in random order byte for byte, reading it once', async t => {
    const { emulator, pv } = await emulatorWith(t)
    const kernel = await putKernel(pv, emulator)
    assert.equal(kernel.size, KERNEL_BYTES)
    assert.equal(kernel.chunks.length, 12)
    const whole = readFileSync(emulator.objectPath(KERNEL_SHA))

    const { chunks, reader } = await readInOrder(pv, kernel, shuffled(12, 7), {})
    for (const [index, bytes] of chunks) {
      assert.ok(Buffer.from(bytes).equals(sliceOf(whole, kernel, index)), `chunk ${index}`)
    }
    const stats = reader.stats()
    assert.equal(stats.streamsOpened, 1)
    assert.equal(stats.bytesRead, KERNEL_BYTES)
    assert.equal(stats.chunksServed, 12)

    const naive = (await readInOrder(pv, kernel, shuffled(12, 7), { cacheBytes: 0 })).reader.stats()
    t.diagnostic(
      `kernel.img in random order: ${(naive.bytesRead / KERNEL_BYTES).toFixed(2)} bytes read per ` +
        `byte served without a cache, 1.00 with the default cache`,
    )
    assert.ok(naive.bytesRead > 3 * KERNEL_BYTES)
  })

  it('serves a 128-chunk object in random order, and reads less than a naive reader', async t => {
    const { emulator, pv } = await emulatorWith(t)
    const chunkBytes = 8 * 1024
    const whole = randomBytes(128 * chunkBytes - 1000)
    const object = await putObject(pv, whole, chunkBytes)
    assert.equal(object.chunks.length, 128)
    const order = shuffled(128, 11)

    const rows: string[] = []
    const read: Record<string, number> = {}
    for (const [label, cacheBytes] of [
      ['naive (no cache)', 0],
      ['8-chunk cache', 8 * chunkBytes],
      ['32-chunk cache', 32 * chunkBytes],
      ['default cache', undefined],
    ] as const) {
      const { chunks, reader } = await readInOrder(
        pv,
        object,
        order,
        cacheBytes === undefined ? {} : { cacheBytes },
      )
      for (const index of order) {
        assert.ok(Buffer.from(chunks.get(index)!).equals(sliceOf(whole, object, index)))
      }
      const stats = reader.stats()
      read[label] = stats.bytesRead
      rows.push(
        `${label}: ${(stats.bytesRead / object.size).toFixed(2)} bytes read per byte served, ` +
          `${stats.streamsOpened} streams, ${stats.cacheHits} cache hits`,
      )
    }
    t.diagnostic(rows.join('; '))
    assert.equal(read['default cache'], object.size)
    assert.ok(read['32-chunk cache']! < read['8-chunk cache']!)
    assert.ok(read['8-chunk cache']! < read['naive (no cache)']!)
    assert.ok(emulator.hasObject(object.sha256))
  })

  it('serves concurrent requests with one pass per object and never more streams than allowed', async t => {
    const { pv } = await emulatorWith(t)
    const chunkBytes = 16 * 1024
    const a = randomBytes(128 * chunkBytes)
    const b = randomBytes(40 * chunkBytes + 5)
    const objectA = await putObject(pv, a, chunkBytes)
    const objectB = await putObject(pv, b, chunkBytes)
    const { source, peak } = countingSource(pv)
    const reader = new PvObjectChunks(source, { maxStreams: 1, cacheBytes: 0 })

    const requests = [
      ...shuffled(128, 3).map(index => ({ object: objectA, whole: a, index })),
      ...shuffled(41, 5).map(index => ({ object: objectB, whole: b, index })),
    ]
    const answers = await Promise.all(requests.map(r => reader.readChunk(r.object, r.index)))
    answers.forEach((bytes, at) => {
      const { object, whole, index } = requests[at]!
      assert.ok(Buffer.from(bytes).equals(sliceOf(whole, object, index)))
    })
    assert.equal(peak(), 1)
    // every request was waiting before the first pass began: one pass per object serves them all
    assert.equal(reader.stats().streamsOpened, 2)
  })

  it('refuses every chunk of an object whose copy in Pantavisor is corrupt', async t => {
    const { emulator, pv } = await emulatorWith(t)
    const chunkBytes = 4096
    const object = await putObject(pv, randomBytes(20 * chunkBytes), chunkBytes)
    const fd = openSync(emulator.objectPath(object.sha256), 'r+')
    writeSync(fd, Buffer.from('rot'), 0, 3, 5 * chunkBytes + 17)
    closeSync(fd)

    const reader = new PvObjectChunks(pv, { cacheBytes: 0 })
    // chunks before the rotten one are still good
    assert.equal((await reader.readChunk(object, 2)).byteLength, chunkBytes)
    await assert.rejects(reader.readChunk(object, 5), (err: unknown) => {
      assert.ok(err instanceof PvCtrlObjectCorruptError)
      assert.equal(err.chunkIndex, 5)
      assert.equal(err.sha256, object.sha256)
      assert.match(err.message, new RegExp(`chunk 5 .*expected sha256 ${object.chunks[5]}`))
      return true
    })
    // from then on nothing of it is served, not even the good chunks
    await assert.rejects(reader.readChunk(object, 2), PvCtrlObjectCorruptError)
    assert.ok(reader.corruption(object.sha256) instanceof PvCtrlObjectCorruptError)
    assert.equal(reader.stats().corruptObjects, 1)
  })

  it('finds a corrupt chunk passed on the way to another and fails the request', async t => {
    const { emulator, pv } = await emulatorWith(t)
    const chunkBytes = 4096
    const object = await putObject(pv, randomBytes(20 * chunkBytes), chunkBytes)
    const fd = openSync(emulator.objectPath(object.sha256), 'r+')
    // every bit of the byte flipped: writing a fixed byte left a random one that equalled it intact
    const byte = Buffer.alloc(1)
    readSync(fd, byte, 0, 1, 3 * chunkBytes)
    byte[0] = byte[0]! ^ 0xff
    writeSync(fd, byte, 0, 1, 3 * chunkBytes)
    closeSync(fd)

    const reader = new PvObjectChunks(pv)
    await assert.rejects(reader.readChunk(object, 9), (err: unknown) => {
      return err instanceof PvCtrlObjectCorruptError && err.chunkIndex === 3
    })
    assert.equal(reader.stats().cachedBytes, 0)
  })

  it('treats an object shorter than the release says as corrupt', async t => {
    const { emulator, pv } = await emulatorWith(t)
    const chunkBytes = 4096
    const object = await putObject(pv, randomBytes(10 * chunkBytes), chunkBytes)
    truncateSync(emulator.objectPath(object.sha256), 9 * chunkBytes + 100)

    const reader = new PvObjectChunks(pv)
    await assert.rejects(reader.readChunk(object, 9), (err: unknown) => {
      assert.ok(err instanceof PvCtrlObjectCorruptError)
      assert.equal(err.chunkIndex, undefined)
      assert.match(err.message, /expected 40960 bytes .* got only 36964 bytes/)
      return true
    })
  })

  it('says when Pantavisor does not hold the object', async t => {
    const { pv } = await emulatorWith(t)
    const reader = new PvObjectChunks(pv)
    const absent: ChunkedObject = {
      sha256: 'ab'.repeat(32),
      size: 10,
      chunkBytes: 4,
      chunks: ['0'.repeat(64), '1'.repeat(64), '2'.repeat(64)],
    }
    await assert.rejects(reader.readChunk(absent, 1), PvCtrlNotFoundError)
  })

  it('rejects a malformed description or chunk index before asking pv-ctrl', async t => {
    const { pv } = await emulatorWith(t)
    const reader = new PvObjectChunks(pv)
    const object: ChunkedObject = {
      sha256: 'ab'.repeat(32),
      size: 10,
      chunkBytes: 4,
      chunks: ['0'.repeat(64)],
    }
    await assert.rejects(reader.readChunk(object, 0), /expected 3 chunk hashes for 10 bytes, got 1/)
    await assert.rejects(
      reader.readChunk({ ...object, chunks: ['0'.repeat(64), '1'.repeat(64), '2'.repeat(64)] }, 3),
      /chunk index must be 0 to 2, got 3/,
    )
    assert.equal(reader.stats().streamsOpened, 0)
  })

  it('serves the empty object without a stream', async t => {
    const { pv } = await emulatorWith(t)
    const reader = new PvObjectChunks(pv)
    const empty = await describeObject([], 4096)
    const bytes = await reader.readChunk({ ...empty, chunkBytes: 4096 }, 0)
    assert.equal(bytes.byteLength, 0)
    assert.equal(reader.stats().streamsOpened, 0)
  })

  it('gives up after readTimeoutMs when pv-ctrl sends nothing', async t => {
    const { socketPath } = await rawServer(t, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
      res.write(Buffer.alloc(10))
      // then silence
    })
    const pv = new PvCtrlClient({ socketPath })
    const reader = new PvObjectChunks(pv, { readTimeoutMs: 200 })
    const object = await describeObject([Buffer.alloc(100)], 50)
    await assert.rejects(reader.readChunk({ ...object, chunkBytes: 50 }, 1), (err: unknown) => {
      assert.ok(err instanceof PvCtrlTimeoutError)
      assert.match(err.message, /chunk 1: not read from pv-ctrl within 200 ms/)
      return true
    })
  })

  it('stops the stream when its only request is aborted', async t => {
    const controller = new AbortController()
    let closed!: () => void
    const gone = new Promise<void>(resolve => (closed = resolve))
    const { socketPath } = await rawServer(t, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
      res.write(Buffer.alloc(10))
      req.socket.on('close', () => closed())
      controller.abort(new Error('peer went away'))
    })
    const reader = new PvObjectChunks(new PvCtrlClient({ socketPath }))
    const object = await describeObject([Buffer.alloc(100)], 50)
    const reading = reader.readChunk({ ...object, chunkBytes: 50 }, 1, {
      signal: controller.signal,
    })
    await assert.rejects(reading, /peer went away/)
    // the pass had nobody left to serve: pv-ctrl's connection is dropped
    await gone
  })

  it('fails waiting requests when closed', async t => {
    let reader!: PvObjectChunks
    const { socketPath } = await rawServer(t, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
      res.write(Buffer.alloc(10))
      reader.close()
    })
    reader = new PvObjectChunks(new PvCtrlClient({ socketPath }))
    const object = await describeObject([Buffer.alloc(100)], 50)
    const reading = reader.readChunk({ ...object, chunkBytes: 50 }, 1)
    await assert.rejects(reading, PvCtrlUnavailableError)
    await assert.rejects(reader.readChunk({ ...object, chunkBytes: 50 }, 0), PvCtrlUnavailableError)
  })
})
