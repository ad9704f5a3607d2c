import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { StoreClosedError } from '../../src/store/errors.js'
import { HashPool } from '../../src/store/hash-pool.js'
import { chunkOf, patternBytes, sha256Of, specOf } from './helpers.js'

const CHUNK_BYTES = 1000

/** chunk `index` of `bytes` in a buffer of its own, as the store hands it to the pool */
function ownChunk(bytes: Uint8Array, index: number): Uint8Array {
  return Uint8Array.from(chunkOf(bytes, CHUNK_BYTES, index))
}

describe('store hash pool', () => {
  const object = patternBytes(4 * CHUNK_BYTES + 321, 5)
  const spec = specOf(object, CHUNK_BYTES)
  let pool: HashPool

  beforeEach(() => {
    pool = new HashPool(2)
  })

  afterEach(async () => {
    await pool.close()
  })

  it('hashes a chunk on a thread and hands the same bytes back', async () => {
    const hash = pool.object()
    const bytes = ownChunk(object, 1)

    const checked = await hash.checkChunk(1, spec.chunkSha256[1]!, bytes)

    assert.equal(checked.sha256, spec.chunkSha256[1])
    assert.equal(bytes.byteLength, 0, 'the buffer was moved to the thread, not copied')
    assert.deepEqual(Buffer.from(checked.bytes), Buffer.from(chunkOf(object, CHUNK_BYTES, 1)))
  })

  it('takes the whole hash from good chunks in order, and read-backs of early ones', async () => {
    const hash = pool.object()
    const next = async (index: number): Promise<number> =>
      (await hash.checkChunk(index, spec.chunkSha256[index]!, ownChunk(object, index))).next

    assert.equal(await next(0), 1)
    assert.equal(await next(2), 1, 'chunk 2 came early: not fed')
    assert.equal(await next(1), 2)
    assert.equal((await hash.feed(2, ownChunk(object, 2))).next, 3, 'chunk 2 read back')
    assert.equal((await hash.feed(2, ownChunk(object, 2))).next, 3, 'fed once only')
    assert.equal(await next(3), 4)
    assert.equal(await next(4), 5)

    assert.equal(await hash.digest(), sha256Of(object))
  })

  it('reports a bad chunk and leaves it out of the whole hash', async () => {
    const hash = pool.object()
    const forged = ownChunk(object, 0)
    forged[7] = forged[7]! ^ 0xff
    const expected = sha256Of(forged)

    const checked = await hash.checkChunk(0, spec.chunkSha256[0]!, forged)

    assert.equal(checked.sha256, expected)
    assert.notEqual(checked.sha256, spec.chunkSha256[0])
    assert.equal(checked.next, 0, 'not fed')
    assert.equal((await hash.checkChunk(0, spec.chunkSha256[0]!, ownChunk(object, 0))).next, 1)
  })

  it('keeps objects apart', async () => {
    const [first, second] = [pool.object(), pool.object()]
    const other = patternBytes(2500, 9)
    const otherSpec = specOf(other, CHUNK_BYTES)
    for (let index = 0; index < spec.chunkSha256.length; index++) {
      await first.checkChunk(index, spec.chunkSha256[index]!, ownChunk(object, index))
      if (index < otherSpec.chunkSha256.length) {
        await second.checkChunk(index, otherSpec.chunkSha256[index]!, ownChunk(other, index))
      }
    }
    assert.equal(await first.digest(), sha256Of(object))
    assert.equal(await second.digest(), sha256Of(other))
  })

  it('fails what waits on it with StoreClosedError when closed, and takes nothing after', async () => {
    const hash = pool.object()
    const waiting = assert.rejects(
      hash.checkChunk(0, spec.chunkSha256[0]!, ownChunk(object, 0)),
      StoreClosedError,
    )
    await pool.close()
    await waiting
    await assert.rejects(hash.digest(), StoreClosedError)
    assert.throws(() => pool.object(), StoreClosedError)
  })

  it('refuses a thread count that is not a positive integer', () => {
    assert.throws(() => new HashPool(0), RangeError)
    assert.throws(() => new HashPool(1.5), RangeError)
  })
})

describe('store hash pool threads and the process', () => {
  const script = fileURLToPath(new URL('./hash-pool-process.js', import.meta.url))

  for (const closeIt of [true, false]) {
    it(`a process that used a pool ends by itself ${closeIt ? 'once it is closed' : 'when idle, even unclosed'}`, async () => {
      const child = spawn(process.execPath, [script, closeIt ? 'close' : 'leave'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      let stdout = ''
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(resolve =>
        child.once('exit', (code, signal) => resolve([code, signal])),
      )
      clearTimeout(timer)
      assert.equal(signal, null, 'killed: a thread kept the process alive')
      assert.equal(code, 0)
      assert.match(stdout, /^hashed [0-9a-f]{64}\n$/)
    })
  }
})
