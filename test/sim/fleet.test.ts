import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { describingSink } from '../../src/release/index.js'
import { importRevision } from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'
import { Fleet } from './fleet.js'
import { runFleet, type FleetRunResult } from './fleet-run.js'
import type { SequenceResult } from './fleet-types.js'
import { ProgressView } from './progress.js'
import { generateRevision } from './revision-generator.js'
import { formatSummary, jsonLine } from './summary.js'
import { pendingTeardowns } from './teardown.js'

/** sha256 → size of every object of a fixture revision. */
async function objectSizes(name: 'rev1' | 'rev2' | 'rev3'): Promise<Map<string, number>> {
  const sink = describingSink(1024 * 1024)
  await importRevision(revisionFixture(name), sink)
  return new Map([...sink.described.values()].map(o => [o.sha256, o.size]))
}

/** Bytes of the objects `to` has and `from` lacks. */
function changedBytes(from: Map<string, number>, to: Map<string, number>): number {
  let bytes = 0
  for (const [sha, size] of to) if (!from.has(sha)) bytes += size
  return bytes
}

/** Payload bytes a device received, not counting chunks it got twice. */
function receivedOnce(device: SequenceResult['devices'][number]): number {
  return device.bytesFromSeed + device.bytesFromPeers - (device.download?.duplicateBytes ?? 0)
}

describe('fleet in one process: rev1, rev2, rev3 of the fixtures on 8 devices', () => {
  let result: FleetRunResult
  let workDir: string
  const sizes = new Map<string, Map<string, number>>()

  before(async () => {
    for (const name of ['rev1', 'rev2', 'rev3'] as const) sizes.set(name, await objectSizes(name))
    workDir = await mkdtemp(join(tmpdir(), 'pvswarm-fleet-test-'))
    result = await runFleet({ devices: 8, workDir: join(workDir, 'floor') }, [
      revisionFixture('rev1'),
      revisionFixture('rev2'),
      revisionFixture('rev3'),
    ])
  })
  after(() => rm(workDir, { recursive: true, force: true }))

  it('ends every trial of every sequence as installed', () => {
    assert.equal(result.sequences.length, 3)
    for (const sequence of result.sequences) {
      assert.deepEqual(
        sequence.devices.map(d => [d.name, d.outcome === 'DONE' || d.outcome === 'UPDATED']),
        sequence.devices.map(d => [d.name, true]),
      )
    }
    assert.equal(result.allDone, true)
  })

  it('brings every device the whole of rev1, much of it from peers rather than the seed', () => {
    const [first] = result.sequences
    const rev1Bytes = [...sizes.get('rev1')!.values()].reduce((a, b) => a + b, 0)
    for (const device of first!.devices.slice(1)) assert.equal(receivedOnce(device), rev1Bytes)
    assert.equal(first!.devices[0]!.bytesFromSeed + first!.devices[0]!.bytesFromPeers, 0)
    assert.ok(
      first!.servedByPeersBytes > rev1Bytes,
      `peers served ${first!.servedByPeersBytes} bytes, less than one copy`,
    )
  })

  it('moves only the changed objects for rev2 and rev3', () => {
    const deltas = [
      changedBytes(sizes.get('rev1')!, sizes.get('rev2')!),
      changedBytes(sizes.get('rev2')!, sizes.get('rev3')!),
    ]
    result.sequences.slice(1).forEach((sequence, index) => {
      for (const device of sequence.devices.slice(1)) {
        assert.equal(receivedOnce(device), deltas[index], `${device.name} in sequence 2+${index}`)
      }
    })
  })

  it('reports it as the --json line and the summary', () => {
    const line = jsonLine(result)
    assert.equal(line.sim, 'done')
    assert.equal(line.devices.length, 24)
    assert.deepEqual(Object.keys(line.devices[0]!), [
      'name',
      'release',
      'outcome',
      'bytes_from_seed',
      'bytes_from_peers',
    ])
    assert.deepEqual(
      line.devices.slice(0, 8).map(d => d.release),
      Array(8).fill(result.sequences[0]!.releaseId),
    )
    assert.equal(line.all_done, true)
    const summary = formatSummary(result).join('\n')
    for (let i = 0; i < 8; i++) assert.match(summary, new RegExp(`dev-0${i}\\*? +(DONE|UPDATED)`))
    assert.match(summary, /served: seed .* peers /)
    assert.match(summary, /CPU: simulator \d+\.\d s over/)
  })

  it('leaves nothing to tear down once the run returned', () => {
    assert.equal(pendingTeardowns(), 0)
  })
})

describe('fleet in one process: a generated revision', () => {
  let dir: string
  let revision: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pvswarm-fleet-gen-'))
    revision = (await generateRevision({ path: join(dir, 'gen.tgz'), totalBytes: 6 * 1024 * 1024 }))
      .path
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('spreads it to 4 devices with live progress, and removes its folder on close', async () => {
    const chunks: string[] = []
    const out = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk))
        done()
      },
    }) as unknown as NodeJS.WriteStream
    const view = new ProgressView({ out, redraw: false })

    const fleet = await Fleet.start({ devices: 4 })
    let sequence: SequenceResult
    try {
      view.attach(fleet)
      sequence = await fleet.publish(revision)
    } finally {
      view.stop()
      await fleet.close()
    }

    assert.equal(sequence.allDone, true)
    assert.equal(existsSync(fleet.workDir), false)
    const printed = chunks.join('')
    assert.match(printed, /sequence 1: gen\.tgz/)
    for (const name of ['dev-00', 'dev-01', 'dev-02', 'dev-03']) {
      assert.match(printed, new RegExp(`${name}( \\(seed\\))?: (DONE|UPDATED) in \\d`))
    }
  })
})
