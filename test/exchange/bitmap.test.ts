import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  countBits,
  decodeBitmap,
  encodeBitmap,
  fullBitmap,
  hasBit,
} from '../../src/exchange/bitmap.js'

describe('chunk bitmaps', () => {
  it('reads bits LSB first, as the store writes them', () => {
    const map = Uint8Array.of(0b0000_0101, 0b1000_0000)
    assert.deepEqual(
      [0, 1, 2, 15].map(i => hasBit(map, i)),
      [true, false, true, true],
    )
  })

  it('round-trips through base64 and clears bits past the chunk count', () => {
    const decoded = decodeBitmap(encodeBitmap(Uint8Array.of(0xff, 0xff)), 10)
    assert.deepEqual(decoded, Uint8Array.of(0xff, 0b11))
    assert.equal(countBits(decoded!), 10)
  })

  it('rejects a bitmap of the wrong length', () => {
    assert.equal(decodeBitmap(encodeBitmap(Uint8Array.of(1, 2, 3)), 10), undefined)
  })

  it('makes a full bitmap with exactly count bits set', () => {
    assert.equal(countBits(fullBitmap(13)), 13)
    assert.equal(fullBitmap(13).byteLength, 2)
  })
})
