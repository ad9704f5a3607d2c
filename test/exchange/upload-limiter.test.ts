import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { UploadLimiter } from '../../src/exchange/upload-limiter.js'

describe('UploadLimiter', () => {
  it('lets at most maxConcurrent through and hands slots on in arrival order', async () => {
    const limiter = new UploadLimiter(2, 0)
    const order: number[] = []
    const first = await limiter.acquire()
    const second = await limiter.acquire()
    const third = limiter.acquire().then(done => {
      order.push(3)
      return done
    })
    const fourth = limiter.acquire().then(done => {
      order.push(4)
      return done
    })
    assert.equal(limiter.active, 2)
    first()
    ;(await third)()
    second()
    ;(await fourth)()
    assert.deepEqual(order, [3, 4])
    assert.equal(limiter.peak, 2)
    assert.equal(limiter.active, 0)
  })

  it('gives up waiting when the signal aborts', async () => {
    const limiter = new UploadLimiter(1, 0)
    const held = await limiter.acquire()
    const controller = new AbortController()
    const waiting = limiter.acquire(controller.signal)
    controller.abort(new Error('peer left'))
    await assert.rejects(waiting, /peer left/)
    held()
    assert.equal(limiter.active, 0)
  })

  it('holds the byte rate to the cap after the burst', async () => {
    const limiter = new UploadLimiter(1, 20_000)
    const started = performance.now()
    // the bucket holds 250 ms worth (5,000 bytes); 15,000 bytes more take 750 ms at 20,000 B/s
    for (let i = 0; i < 4; i++) await limiter.throttle(5_000)
    const elapsedMs = performance.now() - started
    assert.ok(elapsedMs >= 700, `took ${elapsedMs} ms`)
    assert.ok(elapsedMs < 2_000, `took ${elapsedMs} ms`)
  })
})
