import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ChunkBuffers, MAX_SPARE_BUFFER_BYTES } from '../../src/store/chunk-buffers.js'

describe('store chunk buffers', () => {
  it('hands out a distinct buffer per take while none is given back', () => {
    const buffers = new ChunkBuffers(1000)
    const [a, b] = [buffers.take(), buffers.take()]
    assert.equal(a.byteLength, 1000)
    assert.notEqual(a.buffer, b.buffer)
  })

  it('reuses a buffer once it is given back, and none after clear', () => {
    const buffers = new ChunkBuffers(1000)
    const first = buffers.take()
    buffers.give(first)
    assert.equal(buffers.take(), first)
    buffers.give(first)
    buffers.clear()
    assert.notEqual(buffers.take(), first)
  })

  it('keeps spares up to a bound in bytes', () => {
    const chunkBytes = MAX_SPARE_BUFFER_BYTES / 4
    const buffers = new ChunkBuffers(chunkBytes)
    const taken = Array.from({ length: 6 }, () => buffers.take())
    for (const buffer of taken) buffers.give(buffer)
    const again = Array.from({ length: 6 }, () => buffers.take())
    assert.equal(again.filter(buffer => taken.includes(buffer)).length, 4)
  })

  it('does not hand out a slice of a shared slab', () => {
    const buffer = new ChunkBuffers(16).take()
    assert.equal(buffer.buffer.byteLength, 16)
  })
})
