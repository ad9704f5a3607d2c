import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { UploadQueue, type QueuedUpload } from '../../src/exchange/upload-queue.js'

/** A request for chunk `key`, named so that assertions say which one. */
function request(key: string, name = key): QueuedUpload & { name: string } {
  return { key, name }
}

describe('UploadQueue', () => {
  it('takes every request while there is room, whatever its chunk', () => {
    const queue = new UploadQueue(3)
    for (const r of [request('a'), request('a'), request('b')]) {
      assert.deepEqual(queue.offer(r), { admitted: true })
    }
    assert.equal(queue.size, 3)
  })

  it('answers busy when full and the chunk has no copy out or promised', () => {
    const queue = new UploadQueue(2)
    queue.offer(request('a'))
    queue.offer(request('b'))
    assert.deepEqual(queue.offer(request('c')), { admitted: false, reason: 'busy' })
  })

  it('puts a fresh chunk in place of a queued one whose chunk was handed out already', () => {
    const queue = new UploadQueue(2)
    const first = request('a', 'first of a')
    queue.offer(first)
    queue.handOut(first)
    const again = request('a', 'a again')
    const other = request('b')
    queue.offer(again)
    queue.offer(other)

    const fresh = request('c')
    const admission = queue.offer(fresh)

    assert.equal(admission.admitted, true)
    assert.equal(admission.admitted && admission.displaced, again)
    assert.equal(queue.size, 2)
    // the displaced one left: handing it out now counts nothing
    queue.handOut(again)
    assert.equal(queue.handedOut('a'), 1)
  })

  it('counts a queued request as a promised copy: the second ask for a chunk yields', () => {
    const queue = new UploadQueue(2)
    const early = request('a', 'early a')
    const late = request('a', 'late a')
    queue.offer(early)
    queue.offer(late)

    const admission = queue.offer(request('b'))

    assert.equal(admission.admitted && admission.displaced, late, 'the latest of equals goes')
  })

  it('answers elsewhere when full and the newcomer ranks no better than anything queued', () => {
    const queue = new UploadQueue(1)
    const served = request('a')
    queue.offer(served)
    queue.handOut(served)
    queue.offer(request('b'))

    assert.deepEqual(queue.offer(request('a', 'a again')), {
      admitted: false,
      reason: 'elsewhere',
    })
  })

  it('frees a place on removal without counting a copy', () => {
    const queue = new UploadQueue(1)
    const gone = request('a')
    queue.offer(gone)
    assert.equal(queue.remove(gone), true)
    assert.equal(queue.remove(gone), false)
    assert.equal(queue.handedOut('a'), 0)
    assert.deepEqual(queue.offer(request('b')), { admitted: true })
  })

  it('takes back a copy that never arrived, and knows when a first copy is waiting', () => {
    const queue = new UploadQueue(3)
    const lost = request('a', 'lost copy of a')
    assert.equal(queue.copiesOutOrPromised('a'), 0)
    queue.offer(lost)
    assert.equal(queue.copiesOutOrPromised('a'), 1, 'promised to the queued request')
    assert.equal(queue.hasFirstCopyWaiting(), true)
    assert.equal(queue.handOut(lost), true)
    assert.equal(queue.handOut(lost), false, 'no longer queued: not counted twice')
    queue.offer(request('a', 'second ask for a'))
    assert.equal(queue.hasFirstCopyWaiting(), false, 'a copy of a is out')
    queue.takeBack('a')
    assert.equal(queue.handedOut('a'), 0)
    assert.equal(queue.hasFirstCopyWaiting(), true)
  })

  it('refuses a capacity below one', () => {
    assert.throws(() => new UploadQueue(0), RangeError)
  })
})
