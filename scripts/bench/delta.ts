import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Option } from 'commander'
import { describingSink } from '../../src/release/index.js'
import { importRevision } from '../../src/revision/index.js'
import { formatCpu, runFleet, type SequenceResult } from '../../test/sim/index.js'
import { MIB, positiveInteger, round } from './figures.js'
import type { Benchmark, BenchReporter, BenchResult } from './types.js'

/** The shared fixtures beside the checkout (this file runs from dist/scripts/bench/). */
const DEFAULT_REVISIONS_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  'shared',
  'fixtures',
  'revisions',
)

const REVISIONS = ['rev1', 'rev2', 'rev3'] as const

interface DeltaOptions {
  devices: number
  revisions: string
}

/**
 * `delta`: the fixtures' rev1, rev2, rev3 published one after another to one in-process fleet.
 * For each update, every payload byte the devices received against the bytes of the objects the
 * new revision has and the old one lacks, times the devices that fetched it: 1.0 means only
 * what changed crossed the wire, once per device.
 */
export const deltaBenchmark: Benchmark = {
  name: 'delta',
  summary: 'bytes on the wire for rev1→rev2→rev3 against the bytes that changed',
  options: command =>
    command
      .addOption(
        new Option('--devices <n>', 'fleet size, seed included')
          .argParser(positiveInteger)
          .default(8),
      )
      .option(
        '--revisions <dir>',
        'folder with rev1.tgz, rev2.tgz, rev3.tgz',
        DEFAULT_REVISIONS_DIR,
      ),
  run: (options, reporter) => runDelta(options as unknown as DeltaOptions, reporter),
}

async function runDelta(options: DeltaOptions, reporter: BenchReporter): Promise<BenchResult[]> {
  const paths = REVISIONS.map(name => join(options.revisions, `${name}.tgz`))
  const missing = paths.filter(path => !existsSync(path))
  if (missing.length > 0) {
    reporter.detail(`delta skipped: no fixture revisions at ${missing.join(', ')}`)
    return [{ bench: 'delta', skipped: `missing ${missing.join(', ')}` }]
  }
  const objects = await Promise.all(paths.map(objectSizes))

  const run = await runFleet({ devices: options.devices, mode: 'inprocess' }, paths)
  if (run.sequences.length !== paths.length) {
    throw new Error(`the fleet settled ${run.sequences.length} of ${paths.length} revisions`)
  }
  reporter.detail(
    `${options.devices} devices in-process; rev1 first: ` +
      `${mibText(wireBytes(run.sequences[0]!))} MiB on the wire`,
  )

  const lines: BenchResult[] = []
  for (let index = 1; index < paths.length; index++) {
    const result = run.sequences[index]!
    const receivers = result.devices.length - 1
    const changed = changedBytes(objects[index - 1]!, objects[index]!)
    const wire = wireBytes(result)
    reporter.detail(
      `${REVISIONS[index - 1]}→${REVISIONS[index]}: ${changed} bytes changed × ${receivers} ` +
        `devices, ${wire} on the wire in ${result.seconds.toFixed(1)} s ` +
        `(all done: ${result.allDone}); ${formatCpu(result.cpu)}`,
    )
    lines.push({
      bench: 'delta',
      from: REVISIONS[index - 1],
      to: REVISIONS[index],
      changed_bytes: changed * receivers,
      wire_bytes: wire,
      ratio: round(wire / (changed * receivers), 4),
      duplicate_bytes: result.duplicateBytes,
      devices: options.devices,
      all_done: result.allDone,
    })
  }
  return lines
}

/** sha256 → size of every object a revision export holds. */
async function objectSizes(path: string): Promise<Map<string, number>> {
  const sink = describingSink(MIB)
  await importRevision(path, sink)
  return new Map([...sink.described.values()].map(object => [object.sha256, object.size]))
}

function changedBytes(from: Map<string, number>, to: Map<string, number>): number {
  let bytes = 0
  for (const [sha256, size] of to) if (!from.has(sha256)) bytes += size
  return bytes
}

/** Payload bytes every device received, from the seed and from each other. */
function wireBytes(result: SequenceResult): number {
  return result.devices.reduce((sum, d) => sum + d.bytesFromSeed + d.bytesFromPeers, 0)
}

function mibText(bytes: number): string {
  return (bytes / MIB).toFixed(1)
}
