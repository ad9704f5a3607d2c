import assert from 'node:assert/strict'
import { test } from 'node:test'
import { backoffMs, jitteredMs, randomDelayMs } from '../../src/discovery/jitter.js'

test('a jittered interval spans base x [1 - j, 1 + j] as the random draw goes from 0 to 1', () => {
  assert.equal(
    jitteredMs(10_000, 0.3, () => 0),
    7_000,
  )
  assert.equal(
    jitteredMs(10_000, 0.3, () => 0.5),
    10_000,
  )
  assert.equal(
    jitteredMs(10_000, 0.3, () => 0.999_999),
    13_000,
  )
  assert.equal(
    jitteredMs(10_000, 0, () => 0.9),
    10_000,
  )
})

test('a floor of nodes drawing intervals does not query in lockstep', () => {
  const intervals = Array.from({ length: 200 }, () => jitteredMs(10_000, 0.3))

  assert.ok(intervals.every(ms => ms >= 7_000 && ms <= 13_000))
  assert.ok(new Set(intervals).size > 150, 'draws are spread, not repeated')
})

test('a random delay lies in [0, max]', () => {
  assert.equal(
    randomDelayMs(2_000, () => 0),
    0,
  )
  assert.equal(
    randomDelayMs(2_000, () => 0.25),
    500,
  )
  const delays = Array.from({ length: 100 }, () => randomDelayMs(2_000))
  assert.ok(delays.every(ms => ms >= 0 && ms <= 2_000))
})

test('backoff doubles per attempt up to its ceiling', () => {
  const middle = () => 0.5 // no jitter effect
  const options = { initialMs: 1_000, maxMs: 30_000 }

  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 10].map(attempt => backoffMs(attempt, options, middle)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000],
  )
})

test('backoff is jittered but never above its ceiling', () => {
  const options = { initialMs: 1_000, maxMs: 30_000, jitter: 0.2 }

  assert.equal(
    backoffMs(0, options, () => 0),
    800,
  )
  assert.equal(
    backoffMs(0, options, () => 0.999_999),
    1_200,
  )
  assert.equal(
    backoffMs(20, options, () => 0.999_999),
    30_000,
  )
})
