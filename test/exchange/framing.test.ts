import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StreamCloseEvent, StreamMessageEvent, type MessageStream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { MessageTooLargeError } from '../../src/exchange/index.js'
import { encodeFrame, FrameReader } from '../../src/exchange/framing.js'

/** Just enough of a stream for a FrameReader: events in, nothing buffered. */
class FakeStream extends EventTarget {
  readBufferLength = 0
  deliver(bytes: Uint8Array): void {
    this.dispatchEvent(new StreamMessageEvent(bytes))
  }
}

function reader(maxFrameBytes = 1024) {
  const stream = new FakeStream()
  const frames: string[] = []
  const outcome: { error?: Error; ended: boolean } = { ended: false }
  const { promise: finished, resolve } = Promise.withResolvers<void>()
  new FrameReader(stream as unknown as MessageStream, {
    protocol: '/test',
    maxFrameBytes,
    onFrame: (frame: Uint8ArrayList) => frames.push(new TextDecoder().decode(frame.subarray())),
    onError: err => {
      outcome.error = err
      resolve()
    },
    onEnd: () => {
      outcome.ended = true
      resolve()
    },
  })
  return { stream, frames, outcome, finished }
}

const frame = (text: string) => encodeFrame(new TextEncoder().encode(text)).subarray()

describe('FrameReader', () => {
  it('cuts frames split over messages and several frames in one message', () => {
    const { stream, frames } = reader()
    const both = Buffer.concat([frame('hello'), frame(''), frame('world')])
    stream.deliver(both.subarray(0, 3))
    stream.deliver(both.subarray(3, 13))
    assert.deepEqual(frames, ['hello', ''])
    stream.deliver(both.subarray(13))
    assert.deepEqual(frames, ['hello', '', 'world'])
  })

  it('fails on a length over the limit before any of the payload arrives', () => {
    const { stream, frames, outcome } = reader(16)
    stream.deliver(frame('x'.repeat(17)).subarray(0, 4))
    assert.ok(outcome.error instanceof MessageTooLargeError)
    assert.deepEqual(frames, [])
  })

  it('ends cleanly after whole frames, and fails when the stream stops inside one', async () => {
    const clean = reader()
    clean.stream.deliver(frame('a'))
    clean.stream.dispatchEvent(new Event('remoteCloseWrite'))
    await clean.finished
    assert.deepEqual(clean.outcome, { ended: true })

    const cut = reader()
    cut.stream.deliver(frame('abcdef').subarray(0, 6))
    cut.stream.dispatchEvent(new StreamCloseEvent())
    await cut.finished
    assert.match(cut.outcome.error?.message ?? '', /ended inside a frame/)
  })
})
