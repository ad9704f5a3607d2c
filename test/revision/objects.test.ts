import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  PvrObjectHashMismatchError,
  PvrObjectSizeMismatchError,
  discardingSink,
} from '../../src/revision/index.js'
import { verifiedBytes } from '../../src/revision/objects.js'
import { chunksOf, sha256 } from './helpers.js'

const BYTES = Buffer.from('0123456789'.repeat(1000))
const SHA = sha256(BYTES)

describe('verifiedBytes', () => {
  it('passes good bytes through unchanged', async () => {
    const out: Buffer[] = []
    for await (const chunk of verifiedBytes(chunksOf(BYTES, 997), SHA, BYTES.length, 'test'))
      out.push(Buffer.from(chunk))
    assert.deepEqual(Buffer.concat(out), BYTES)
  })

  it('withholds the last chunk of bad bytes and throws with expected and actual sha', async () => {
    const bad = Buffer.from(BYTES)
    bad[bad.length - 1] = 0x21
    let passedBytes = 0
    await assert.rejects(
      async () => {
        for await (const chunk of verifiedBytes(chunksOf(bad, 1000), SHA, bad.length, 'member x'))
          passedBytes += chunk.byteLength
      },
      (err: PvrObjectHashMismatchError) => {
        assert.ok(err instanceof PvrObjectHashMismatchError)
        assert.equal(err.sha256, SHA)
        assert.equal(err.actualSha256, sha256(bad))
        assert.match(err.message, /member x: expected sha256 [0-9a-f]{64}, found [0-9a-f]{64}/)
        return true
      },
    )
    assert.ok(passedBytes < bad.length, `consumer saw ${passedBytes} of ${bad.length} bytes`)
  })

  it('refuses a source that overruns the announced size as soon as it does', async () => {
    await assert.rejects(async () => {
      for await (const _ of verifiedBytes(chunksOf(BYTES, 1000), SHA, 5000, 'test')) {
        // consume
      }
    }, PvrObjectSizeMismatchError)
  })

  it('refuses a source shorter than the announced size', async () => {
    await assert.rejects(async () => {
      for await (const _ of verifiedBytes(chunksOf(BYTES, 1000), SHA, BYTES.length + 1, 'test')) {
        // consume
      }
    }, PvrObjectSizeMismatchError)
  })

  it('verifies an empty object', async () => {
    const chunks: Uint8Array[] = []
    for await (const chunk of verifiedBytes(chunksOf(Buffer.alloc(0)), sha256(''), 0, 'test'))
      chunks.push(chunk)
    assert.equal(chunks.length, 0)
  })
})

describe('discardingSink', () => {
  it('never has anything', async () => {
    assert.equal(await discardingSink().has(SHA), false)
  })

  it('accepts good bytes', async () => {
    await discardingSink().put(SHA, BYTES.length, chunksOf(BYTES))
  })

  it('refuses bytes that do not hash to the name', async () => {
    await assert.rejects(
      discardingSink().put(sha256('other'), BYTES.length, chunksOf(BYTES)),
      PvrObjectHashMismatchError,
    )
  })
})
