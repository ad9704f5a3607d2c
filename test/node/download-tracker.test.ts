import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { recentRate } from '../../src/node/download-tracker.js'

const MiB = 1024 * 1024

describe('recentRate', () => {
  it('measures a steady download over the last few seconds', () => {
    // 1 MiB a second, sampled every 250 ms for 10 s
    const samples = Array.from({ length: 41 }, (_, i) => ({
      atMs: i * 250,
      bytesDone: (i * MiB) / 4,
    }))
    const rate = recentRate(samples, 10 * MiB, 10_000)
    assert.equal(Math.round(rate.bytesPerSecond), MiB)
    assert.equal(rate.sinceMs, 5_000)
  })

  it('reaches back to the last step when progress comes a chunk at a time', () => {
    // under an upload cap: one 1 MiB chunk every 50 s, the last 20 s ago
    const samples = [
      { atMs: 0, bytesDone: 0 },
      { atMs: 50_000, bytesDone: MiB },
      { atMs: 100_000, bytesDone: 2 * MiB },
    ]
    const rate = recentRate(samples, 2 * MiB, 120_000)
    // from the sample before the last step: 1 MiB over the 70 s since
    assert.equal(Math.round(rate.bytesPerSecond), Math.round(MiB / 70))
    assert.equal(rate.sinceMs, 50_000)
  })

  it('uses the oldest sample while the download is younger than the window', () => {
    const samples = [
      { atMs: 0, bytesDone: 0 },
      { atMs: 1_000, bytesDone: MiB },
    ]
    assert.equal(Math.round(recentRate(samples, 2 * MiB, 2_000).bytesPerSecond), MiB)
  })

  it('says 0 while nothing has arrived', () => {
    const samples = [{ atMs: 0, bytesDone: 0 }]
    assert.equal(recentRate(samples, 0, 30_000).bytesPerSecond, 0)
    assert.equal(recentRate([], 0, 30_000).bytesPerSecond, 0)
  })
})
