import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { XSalsa20Stream } from '../../src/node/xsalsa20-stream.js'

// The cipher @libp2p/pnet uses: an independent implementation to agree with.
const require = createRequire(import.meta.url)
const XSalsa20Wasm = require('xsalsa20') as (
  nonce: Uint8Array,
  key: Uint8Array,
) => { update(input: Uint8Array): Uint8Array }

const key = randomBytes(32)
const nonce = randomBytes(24)

/** Feeds `data` through the stream in pieces of the given sizes, from unaligned offsets. */
function inPieces(stream: XSalsa20Stream, data: Uint8Array, sizes: number[]): Uint8Array {
  const out: Uint8Array[] = []
  let offset = 0
  let i = 0
  while (offset < data.length) {
    const size = Math.min(sizes[i++ % sizes.length] as number, data.length - offset)
    // copy into a buffer at an odd offset so the unaligned path is exercised
    const holder = new Uint8Array(size + 3)
    holder.set(data.subarray(offset, offset + size), 3)
    out.push(stream.update(holder.subarray(3)))
    offset += size
  }
  return Uint8Array.from(Buffer.concat(out))
}

test('pieces of any size give the same bytes as one pass over the whole message', () => {
  const data = randomBytes(300_000)
  const whole = xsalsa20(key, nonce, data)

  for (const sizes of [[1], [3, 61, 64, 65, 1000], [63], [64], [65_537, 5], [250_000]]) {
    const pieces = inPieces(new XSalsa20Stream(key, nonce), data, sizes)
    assert.deepEqual(pieces, Uint8Array.from(whole), `piece sizes ${sizes.join(',')}`)
  }
})

test('agrees with the xsalsa20 package used by @libp2p/pnet (wire compatibility)', () => {
  const data = randomBytes(100_000)
  const theirs = XSalsa20Wasm(nonce, key)
  const ours = new XSalsa20Stream(key, nonce)

  const sizes = [7, 4096, 1, 130, 60_000]
  const expected = Buffer.concat(
    sizes.map((size, i) => {
      const start = sizes.slice(0, i).reduce((a, b) => a + b, 0)
      return theirs.update(data.subarray(start, start + size))
    }),
  )
  const actual = inPieces(ours, data.subarray(0, expected.length), sizes)

  assert.deepEqual(actual, Uint8Array.from(expected))
  assert.equal(ours.positionBytes, expected.length)
})

test('decrypting with the same key and nonce restores the plaintext', () => {
  const plain = randomBytes(10_000)
  const cipher = inPieces(new XSalsa20Stream(key, nonce), plain, [33, 1000])

  assert.notDeepEqual(cipher, Uint8Array.from(plain))
  assert.deepEqual(inPieces(new XSalsa20Stream(key, nonce), cipher, [4096]), Uint8Array.from(plain))
})

test('a key or nonce of the wrong length is refused', () => {
  assert.throws(() => new XSalsa20Stream(randomBytes(16), nonce), /key: expected 32 bytes, got 16/)
  assert.throws(() => new XSalsa20Stream(key, randomBytes(12)), /nonce: expected 24 bytes, got 12/)
})
