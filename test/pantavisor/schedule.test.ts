import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { waitForHandoverWindow } from '../../src/pantavisor/index.js'

const WINDOW = { mode: 'window', start: '02:00', end: '04:00' } as const
const OPENING = new Date(2025, 5, 1, 2, 0).getTime()

/** A wall clock that reads `offsetMs` from OPENING when created, and runs at real speed. */
function clockAt(offsetMs: number): () => Date {
  const startedMs = Date.now()
  return () => new Date(OPENING + offsetMs + (Date.now() - startedMs))
}

describe('waitForHandoverWindow', () => {
  it('resolves at once inside the window', async () => {
    let waits = 0
    await waitForHandoverWindow(WINDOW, { now: clockAt(60_000), onWait: () => waits++ })
    assert.equal(waits, 0)
  })

  it('sets a timer to the opening and resolves once it is reached', async () => {
    const now = clockAt(-150)
    const opens: number[] = []
    await waitForHandoverWindow(WINDOW, { now, onWait: timing => opens.push(timing.opensAtMs!) })
    assert.ok(now().getTime() >= OPENING)
    assert.ok(opens.length >= 1)
    assert.ok(opens.every(ms => ms === OPENING))
  })

  it('re-reads the clock after maxTimerMs, so a clock jump into the window is noticed', async () => {
    // six hours before the window, then the clock is set (as by NTP) to inside it
    let jumped = false
    const now = (): Date => new Date(jumped ? OPENING + 1000 : OPENING - 6 * 3600_000)
    const startedMs = Date.now()
    await waitForHandoverWindow(WINDOW, { now, maxTimerMs: 30, onWait: () => (jumped = true) })
    assert.ok(Date.now() - startedMs < 5000)
  })

  it('rejects with the signal’s reason when stopped, and refuses the never schedule', async () => {
    const controller = new AbortController()
    const waiting = waitForHandoverWindow(WINDOW, {
      now: clockAt(-3600_000),
      signal: controller.signal,
    })
    controller.abort(new Error('stopping'))
    await assert.rejects(waiting, /stopping/)
    await assert.rejects(waitForHandoverWindow({ mode: 'never' }), RangeError)
  })
})
