import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BENCHMARKS } from '../../scripts/bench/benchmarks.js'
import type { Benchmark } from '../../scripts/bench/types.js'

function benchmark(name: string): Benchmark {
  const found = BENCHMARKS.find(b => b.name === name)
  assert.ok(found !== undefined, `benchmark ${name} is registered`)
  return found
}

const quiet = { detail() {} }

// Small objects: these check that each benchmark measures what it says, not how fast it is.
describe('benchmarks', () => {
  it('stream: times a pvswarm download and a bare stream of the same object', async () => {
    const result = await benchmark('stream').run({ mib: 4, runs: 1 }, quiet)
    assert.equal(result.bench, 'stream')
    assert.equal(result.mib, 4)
    for (const field of ['pvswarm_mib_s', 'bare_libp2p_mib_s', 'ratio', 'pvswarm_cpu_s']) {
      const value = result[field]
      assert.ok(typeof value === 'number' && value > 0 && Number.isFinite(value), field)
    }
    const ratio = (result.pvswarm_mib_s as number) / (result.bare_libp2p_mib_s as number)
    assert.ok(Math.abs(ratio - (result.ratio as number)) < 0.01, 'ratio of the two rates')
  })

  it('memory: reads the peak RSS of a downloader in its own process', async () => {
    const result = await benchmark('memory').run({ mib: 4 }, quiet)
    assert.equal(result.bench, 'memory')
    assert.equal(result.object_mib, 4)
    const peak = result.peak_rss_mib as number
    const idle = result.idle_rss_mib as number
    assert.ok(idle > 20, `a node process holds more than 20 MiB, got ${idle}`)
    assert.ok(peak >= idle, `peak ${peak} MiB is at least the idle ${idle} MiB`)
    const heap = result.peak_heap_mib as number
    assert.ok(heap > 0 && heap < peak, `V8 heap ${heap} MiB is part of the peak ${peak} MiB`)
  })
})
