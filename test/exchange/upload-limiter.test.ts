import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { UploadLimiter } from '../../src/exchange/upload-limiter.js'

describe('UploadLimiter', () => {
  /** A slot the test expects to be given (at once or after a wait), not a busy answer. */
  function slot(limiter: UploadLimiter, rank = 0, signal?: AbortSignal): Promise<() => void> {
    const given = limiter.acquire(() => rank, signal)
    assert.ok(given !== undefined, 'expected a slot or a place in the wait list, got busy')
    return given
  }

  describe('UploadLimiter', () => {
    it('lets at most maxConcurrent through and hands slots on in arrival order at equal rank', async () => {
      const limiter = new UploadLimiter(2, 0, 2)
      const order: number[] = []
      const first = await slot(limiter)
      const second = await slot(limiter)
      const third = slot(limiter).then(done => {
        order.push(3)
        return done
      })
      const fourth = slot(limiter).then(done => {
        order.push(4)
        return done
      })
      assert.equal(limiter.active, 2)
      assert.equal(limiter.waiting, 2)
      first()
      ;(await third)()
      second()
      ;(await fourth)()
      assert.deepEqual(order, [3, 4])
      assert.equal(limiter.peak, 2)
      assert.equal(limiter.active, 0)
    })

    it('answers busy (undefined) once every slot and wait place is taken', async () => {
      const limiter = new UploadLimiter(1, 0, 1)
      const held = await slot(limiter)
      const waiting = slot(limiter)
      assert.equal(limiter.acquire(), undefined)
      held()
      ;(await waiting)()
      assert.ok(limiter.acquire() !== undefined, 'a slot is free again')
    })

    it('gives a free slot to the lowest-ranked waiter, whatever its arrival', async () => {
      const limiter = new UploadLimiter(1, 0, 3)
      const held = await slot(limiter)
      const order: string[] = []
      const waiters = [
        ['served twice', 2],
        ['never served', 0],
        ['served once', 1],
      ] as const
      const given = waiters.map(([name, rank]) =>
        slot(limiter, rank).then(done => {
          order.push(name)
          done()
        }),
      )
      held()
      await Promise.all(given)
      assert.deepEqual(order, ['never served', 'served once', 'served twice'])
    })

    it('gives up waiting when the signal aborts', async () => {
      const limiter = new UploadLimiter(1, 0)
      const held = await slot(limiter)
      const controller = new AbortController()
      const waiting = slot(limiter, 0, controller.signal)
      controller.abort(new Error('peer left'))
      await assert.rejects(waiting, /peer left/)
      assert.equal(limiter.waiting, 0)
      held()
      assert.equal(limiter.active, 0)
    })

    it('counts nothing for a wait that was aborted', async () => {
      const limiter = new UploadLimiter(1, 20_000)
      const started = performance.now()
      // 25,000 bytes go at once and leave the bucket 1 s in debt
      await limiter.throttle(25_000)
      const cancelled = new AbortController()
      const abandoned = limiter.throttle(40_000, cancelled.signal)
      setTimeout(() => cancelled.abort(new Error('request cancelled')), 100)
      await assert.rejects(abandoned, /request cancelled/)
      // had the abandoned 40,000 bytes been counted, this would wait 2 s more
      await limiter.throttle(5_000)
      const elapsedMs = performance.now() - started
      assert.ok(elapsedMs >= 900, `took ${elapsedMs} ms`)
      assert.ok(elapsedMs < 1_800, `took ${elapsedMs} ms`)
    })

    it('holds the byte rate to the cap after the burst', async () => {
      const limiter = new UploadLimiter(1, 20_000)
      const started = performance.now()
      // the bucket holds 250 ms worth (5,000 bytes): the first two go at once (the second into
      // debt), the third and fourth each wait 250 ms for the one before them to be paid for
      for (let i = 0; i < 4; i++) await limiter.throttle(5_000)
      const elapsedMs = performance.now() - started
      assert.ok(elapsedMs >= 450, `took ${elapsedMs} ms`)
      assert.ok(elapsedMs < 2_000, `took ${elapsedMs} ms`)
    })
  })
})
