import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { revisionsDir } from '../fixtures.js'
import { BENCHMARKS } from '../../scripts/bench/benchmarks.js'
import type { Benchmark, BenchResult } from '../../scripts/bench/types.js'

function benchmark(name: string): Benchmark {
  const found = BENCHMARKS.find(b => b.name === name)
  assert.ok(found !== undefined, `benchmark ${name} is registered`)
  return found
}

const quiet = { detail() {} }

async function runOne(name: string, options: Record<string, unknown>): Promise<BenchResult> {
  const result = await benchmark(name).run(options, quiet)
  assert.ok(!Array.isArray(result), `${name} gives one result line`)
  return result as BenchResult
}

async function runMany(name: string, options: Record<string, unknown>): Promise<BenchResult[]> {
  const result = await benchmark(name).run(options, quiet)
  assert.ok(Array.isArray(result), `${name} gives a result line per case`)
  return [...result]
}

// Small objects: these check that each benchmark measures what it says, not how fast it is.
describe('benchmarks', () => {
  it('stream: times a pvswarm download and a bare stream of the same object', async () => {
    const result = await runOne('stream', { mib: 4, runs: 1 })
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
    const result = await runOne('memory', { mib: 4 })
    assert.equal(result.bench, 'memory')
    assert.equal(result.object_mib, 4)
    const peak = result.peak_rss_mib as number
    const idle = result.idle_rss_mib as number
    assert.ok(idle > 20, `a node process holds more than 20 MiB, got ${idle}`)
    assert.ok(peak >= idle, `peak ${peak} MiB is at least the idle ${idle} MiB`)
    const heap = result.peak_heap_mib as number
    assert.ok(heap > 0 && heap < peak, `V8 heap ${heap} MiB is part of the peak ${peak} MiB`)
  })

  it('spread: times a swarm and a seed-only floor of each size on the same revision', async () => {
    const lines = await runMany('spread', {
      sizes: [2, 3],
      linkMbit: 10,
      mib: 1,
      chunkKib: 256,
      centralCapS: 60,
      mode: 'inprocess',
    })
    assert.deepEqual(
      lines.map(line => line.devices),
      [2, 3],
    )
    for (const line of lines) {
      assert.equal(line.bench, 'spread')
      assert.equal(line.mode, 'inprocess')
      assert.equal(line.all_done, true)
      // in-process links are unshaped: no bound to hold the swarm against
      assert.equal(line.link_mbit, null)
      assert.equal(line.efficiency, null)
      const revisionBytes = line.revision_bytes as number
      assert.ok(revisionBytes > 0.9 * 1024 * 1024, `revision of about 1 MiB, got ${revisionBytes}`)
      assert.equal(line.central_revision_bytes, revisionBytes)
      assert.equal(line.chunk_bytes, 256 * 1024)
      const swarm = line.swarm_s as number
      const central = line.central_s as number
      assert.ok(swarm > 0 && central > 0, 'both floors timed')
      assert.ok(Math.abs(central / swarm - (line.speedup as number)) < 0.05 * (central / swarm))
      // with two devices the seed is the only one that has anything to give
      const seedUpload = line.seed_upload_bytes as number
      if (line.devices === 2) assert.equal(seedUpload, revisionBytes)
      assert.ok(seedUpload >= revisionBytes, 'the seed served at least one copy')
      const receivers = (line.devices as number) - 1
      assert.equal(line.received_bytes, receivers * revisionBytes, 'each device one copy')
    }
  })

  it('delta: counts the bytes received against the objects each fixture update changed', async () => {
    const lines = await runMany('delta', { devices: 3, revisions: revisionsDir })
    assert.deepEqual(
      lines.map(line => [line.from, line.to]),
      [
        ['rev1', 'rev2'],
        ['rev2', 'rev3'],
      ],
    )
    // MANIFEST.md: rev2 adds 844,186 object bytes over rev1, rev3 12,068,800 over rev2
    assert.equal(lines[0]!.changed_bytes, 2 * 844_186)
    assert.equal(lines[1]!.changed_bytes, 2 * 12_068_800)
    for (const line of lines) {
      assert.equal(line.all_done, true)
      const wire = line.wire_bytes as number
      assert.ok(wire >= (line.changed_bytes as number), 'every device fetched what changed')
      assert.equal(line.ratio, Math.round((wire / (line.changed_bytes as number)) * 1e4) / 1e4)
    }
  })

  it('delta: says it skipped when the fixture revisions are not there', async () => {
    const lines = await runMany('delta', { devices: 2, revisions: '/nonexistent/revisions' })
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.bench, 'delta')
    assert.match(String(lines[0]!.skipped), /rev1\.tgz/)
  })
})
