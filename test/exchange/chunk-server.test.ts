import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Libp2p, Stream } from '@libp2p/interface'
import { CHUNK_PROTOCOL } from '../../src/exchange/index.js'
import { FrameReader } from '../../src/exchange/framing.js'
import { FrameKind, jsonFrame } from '../../src/exchange/messages.js'
import {
  contentOf,
  createTestNode,
  makeRelease,
  revisionObjects,
  Scratch,
  seed,
  type TestDevice,
  type TestRelease,
} from './helpers.js'

const KiB = 1024

/** Resolves once `condition` holds; fails after 10 s naming what never happened. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Answers on a raw chunk stream: data frames by request id, refusals by request id. */
class RawChunkStream {
  readonly data = new Set<number>()
  readonly refused = new Map<number, string>()
  readonly #waiters: Array<() => void> = []

  constructor(readonly stream: Stream) {
    new FrameReader(stream, {
      protocol: CHUNK_PROTOCOL,
      maxFrameBytes: 1024 * KiB,
      onFrame: frame => {
        if (frame.get(0) === FrameKind.ChunkData) this.data.add(frame.getUint32(1))
        else {
          const answer = JSON.parse(new TextDecoder().decode(frame.subarray(1))) as {
            id: number
            code: string
          }
          this.refused.set(answer.id, answer.code)
        }
        for (const wake of this.#waiters.splice(0)) wake()
      },
      onError: () => {},
      onEnd: () => {},
    })
  }

  get(id: number, releaseId: string, sha256: string, index: number): void {
    this.stream.send(jsonFrame({ t: 'get', id, r: releaseId, o: sha256, i: index }))
  }

  async answered(count: number): Promise<void> {
    const deadline = Date.now() + 10_000
    while (this.data.size + this.refused.size < count) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.data.size + this.refused.size} answers`)
      await new Promise<void>(resolve => {
        this.#waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }
}

describe('chunk server under contention', () => {
  let objects: Map<string, Buffer>
  let release: TestRelease
  let sha256: string
  const scratch = new Scratch()
  let uploader: TestDevice
  let asker: Libp2p

  before(async () => {
    const all = await revisionObjects('rev1')
    // the ~820 KiB object: 13 chunks of 64 KiB
    const [picked] = [...all.entries()].filter(([, bytes]) => bytes.byteLength === 843_776)
    objects = new Map([picked!])
    sha256 = picked![0]
    release = makeRelease('line-3', 1, contentOf(objects, 64 * KiB))
    // one slot, two wait places; 64 KiB a second keeps the slot taken while the test asks
    uploader = await scratch.device({ maxConcurrentUploads: 1, uploadRateBytesPerSecond: 64 * KiB })
    await seed(uploader, release, objects)
    asker = await createTestNode()
    await asker.dial(uploader.node.getMultiaddrs()[0]!)
  })
  after(async () => {
    await asker.stop()
    await scratch.cleanup()
  })

  it('gives its wait places to chunks it has handed out least and says where to go', async () => {
    const raw = new RawChunkStream(await asker.dialProtocol(uploader.node.peerId, CHUNK_PROTOCOL))
    const id = release.summary.releaseId
    raw.get(1, id, sha256, 0) // served: chunk 0 has a copy out
    await new Promise(resolve => setTimeout(resolve, 200))
    raw.get(2, id, sha256, 0) // waits: a second copy of chunk 0
    raw.get(3, id, sha256, 1) // waits: wait places now full
    raw.get(4, id, sha256, 2) // a first copy: takes the place of request 2
    raw.get(5, id, sha256, 1) // chunk 1 is promised to request 3 already
    raw.get(6, id, sha256, 3) // a first copy too, but nothing queued ranks worse

    await raw.answered(6)

    assert.deepEqual(
      [...raw.refused.entries()].sort(([a], [b]) => a - b),
      [
        [2, 'elsewhere'],
        [5, 'elsewhere'],
        [6, 'busy'],
      ],
    )
    assert.deepEqual([...raw.data].sort(), [1, 3, 4])
  })

  it('as the seed, sends a chunk again only once no first copy of another is wanted', async () => {
    const origin = await scratch.device({
      maxConcurrentUploads: 1,
      uploadRateBytesPerSecond: 64 * KiB,
      isSeed: () => true,
    })
    await seed(origin, release, objects)
    await asker.dial(origin.node.getMultiaddrs()[0]!)
    const raw = new RawChunkStream(await asker.dialProtocol(origin.node.peerId, CHUNK_PROTOCOL))
    const id = release.summary.releaseId
    raw.get(1, id, sha256, 0) // the first copy of chunk 0, on its way for a second
    const deadline = Date.now() + 10_000
    while (origin.exchange.uploadStats().activeUploads === 0) {
      if (Date.now() > deadline) throw new Error('the first request was never served')
      await new Promise(resolve => setImmediate(resolve))
    }
    raw.get(2, id, sha256, 0) // a second copy while the first is out: its holder serves it
    await raw.answered(2)
    assert.deepEqual([...raw.refused.entries()], [[2, 'elsewhere']])
    raw.get(3, id, sha256, 0) // no first copy wanted any more: served again
    await raw.answered(3)
    assert.deepEqual([...raw.data].sort(), [1, 3])
  })
})

describe('chunk server and a peer that stops reading', () => {
  const scratch = new Scratch()
  after(() => scratch.cleanup())

  it('resets its chunk stream after the deadline and serves others with the slot', async () => {
    const all = await revisionObjects('rev1')
    const [picked] = [...all.entries()].filter(([, bytes]) => bytes.byteLength === 843_776)
    const objects = new Map([picked!])
    const sha256 = picked![0]
    const release = makeRelease('line-4', 1, contentOf(objects, 64 * KiB))
    const id = release.summary.releaseId
    // one slot: whoever holds it decides whether anyone else is served
    const uploader = await scratch.device({ maxConcurrentUploads: 1, uploadDeadlineMs: 300 })
    await seed(uploader, release, objects)
    // a reader whose window stays at 256 KiB: paused, it soon takes nothing more
    const stalling = await createTestNode({ maxWindowBytes: 256 * KiB })
    const patient = await createTestNode()
    try {
      await stalling.dial(uploader.node.getMultiaddrs()[0]!)
      await patient.dial(uploader.node.getMultiaddrs()[0]!)
      const stalled = await stalling.dialProtocol(uploader.node.peerId, CHUNK_PROTOCOL)
      stalled.pause()
      // one request at a time (one slot admits few waiting): each is served until the window and
      // the read buffer are full, and the one after that cannot leave
      let asked = 0
      while (stalled.status === 'open' && asked < 13) {
        stalled.send(jsonFrame({ t: 'get', id: asked + 1, r: id, o: sha256, i: asked }))
        asked++
        await until(
          () => stalled.status !== 'open' || uploader.exchange.uploadStats().chunksServed === asked,
          `chunk ${asked - 1} sent or the stream reset`,
        )
      }
      // reset by the uploader ('aborted' would mean this side's read buffer overflowed)
      assert.equal(stalled.status, 'reset')
      // a paused reader grants no window beyond the first 256 KiB: the fourth chunk cannot leave
      assert.equal(asked, 4)

      // the slot it held serves others
      const raw = new RawChunkStream(
        await patient.dialProtocol(uploader.node.peerId, CHUNK_PROTOCOL),
      )
      raw.get(1, id, sha256, 12)
      await raw.answered(1)
      assert.deepEqual([...raw.data], [1])
    } finally {
      await stalling.stop()
      await patient.stop()
    }
  })
})
