import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { randomBytes } from 'node:crypto'
import {
  connect,
  contentOf,
  makeRelease,
  MiB,
  Scratch,
  sha256Of,
  type TestDevice,
} from './helpers.js'

const content = () => {
  const bytes = new Uint8Array(randomBytes(1000))
  return contentOf(new Map([[sha256Of(bytes), bytes]]), MiB)
}

/** Resolves once `device` has accepted `releaseId`. */
function accepted(device: TestDevice, releaseId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000
    const check = (): void => {
      if (device.book.accepted.has(releaseId)) return resolve()
      if (Date.now() > deadline) return reject(new Error(`${device.peer} never accepted it`))
      setImmediate(check)
    }
    check()
  })
}

describe('release announcement', () => {
  const scratch = new Scratch()
  after(() => scratch.cleanup())

  it('carries a release along a chain A–B–C: on connect, then passed on when accepted', async () => {
    const [a, b, c] = [await scratch.device(), await scratch.device(), await scratch.device()]
    await connect(b, c)
    const release = makeRelease('line-3', 4, content())
    a.book.accept(release)

    await connect(a, b)
    await accepted(b, release.summary.releaseId)
    await accepted(c, release.summary.releaseId)

    assert.deepEqual(b.book.offers, [
      { releaseId: release.summary.releaseId, from: a.peer, result: 'accepted' },
    ])
    assert.deepEqual(c.book.offers, [
      { releaseId: release.summary.releaseId, from: b.peer, result: 'accepted' },
    ])
    assert.equal(a.node.getConnections(c.node.peerId).length, 0, 'A and C never met')
  })

  it('does not fetch a release older than the one held for that fleet', async () => {
    const [old, current] = [await scratch.device(), await scratch.device()]
    old.book.accept(makeRelease('line-7', 1, content()))
    const newer = makeRelease('line-7', 2, content())
    current.book.accept(newer)

    await connect(old, current)
    await accepted(old, newer.summary.releaseId)

    assert.equal(current.book.offers.length, 0, 'sequence 1 was not wanted by the holder of 2')
    assert.equal(old.book.offers.length, 1)
  })

  it('announce() tells connected peers about a release published after they met', async () => {
    const [publisher, listener] = [await scratch.device(), await scratch.device()]
    await connect(publisher, listener)
    const release = makeRelease('line-9', 1, content())
    publisher.book.accept(release)

    await publisher.exchange.announce()
    await accepted(listener, release.summary.releaseId)
    assert.equal(listener.book.offers[0]?.from, publisher.peer)
  })
})
