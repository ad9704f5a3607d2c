import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkHandoverSchedule, handoverAllowed } from '../../src/policy/index.js'

// Local times built with the Date constructor, so the tests hold in any time zone.
const at = (hours: number, minutes: number, seconds = 0): Date =>
  new Date(2025, 2, 10, hours, minutes, seconds)
const nextDay = (hours: number, minutes: number): number =>
  new Date(2025, 2, 11, hours, minutes).getTime()

describe('handoverAllowed', () => {
  it('allows "now" at any time and never allows "never"', () => {
    assert.equal(handoverAllowed({ mode: 'now' }, at(3, 0)).allowed, true)
    const never = handoverAllowed({ mode: 'never' }, at(3, 0))
    assert.equal(never.allowed, false)
    assert.equal('opensAtMs' in never, false)
    assert.match(never.reason, /only downloads/)
  })

  describe('a window inside one day (09:00–17:30)', () => {
    const schedule = { mode: 'window', start: '09:00', end: '17:30' } as const

    it('includes its start minute and excludes its end minute', () => {
      assert.equal(handoverAllowed(schedule, at(9, 0)).allowed, true)
      assert.equal(handoverAllowed(schedule, at(17, 29, 59)).allowed, true)
      assert.equal(handoverAllowed(schedule, at(17, 30)).allowed, false)
      assert.equal(handoverAllowed(schedule, at(8, 59, 59)).allowed, false)
    })

    it('before the window, it opens the same day; after it, the next day', () => {
      assert.deepEqual(handoverAllowed(schedule, at(7, 15)), {
        allowed: false,
        reason: handoverAllowed(schedule, at(7, 15)).reason,
        opensAtMs: at(9, 0).getTime(),
      })
      const after = handoverAllowed(schedule, at(18, 0))
      assert.equal(after.allowed, false)
      assert.equal(!after.allowed && after.opensAtMs, nextDay(9, 0))
      assert.match(after.reason, /outside the hand-over window 09:00–17:30/)
    })
  })

  describe('a window crossing midnight (22:00–06:00)', () => {
    const schedule = { mode: 'window', start: '22:00', end: '06:00' } as const

    it('is open late in the evening and early in the morning', () => {
      assert.equal(handoverAllowed(schedule, at(22, 0)).allowed, true)
      assert.equal(handoverAllowed(schedule, at(23, 59)).allowed, true)
      assert.equal(handoverAllowed(schedule, at(0, 0)).allowed, true)
      assert.equal(handoverAllowed(schedule, at(5, 59)).allowed, true)
    })

    it('is closed during the day and opens again at 22:00 that day', () => {
      for (const time of [at(6, 0), at(12, 0), at(21, 59)]) {
        const timing = handoverAllowed(schedule, time)
        assert.equal(timing.allowed, false)
        assert.equal(!timing.allowed && timing.opensAtMs, at(22, 0).getTime())
      }
    })
  })

  it('refuses malformed times and a window whose start equals its end', () => {
    for (const bad of ['24:00', '7:00', '07:60', 'noon', '']) {
      assert.throws(
        () => handoverAllowed({ mode: 'window', start: bad, end: '06:00' }, at(1, 0)),
        (err: unknown) => err instanceof RangeError && err.message.includes('expected "HH:MM"'),
      )
    }
    assert.throws(
      () => checkHandoverSchedule({ mode: 'window', start: '03:00', end: '03:00' }),
      /start and end are both 03:00/,
    )
    assert.doesNotThrow(() =>
      checkHandoverSchedule({ mode: 'window', start: '23:00', end: '01:00' }),
    )
  })
})
