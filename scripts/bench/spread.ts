import { join } from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import {
  checkNetnsSupport,
  formatCpu,
  generateRevision,
  NetnsUnavailableError,
  runFleet,
  type FleetMode,
  type SequenceResult,
} from '../../test/sim/index.js'
import { MIB, positiveInteger, round } from './figures.js'
import type { Benchmark, BenchReporter, BenchResult } from './types.js'
import { checkFreeSpace, workspace } from './workspace.js'

interface SpreadOptions {
  sizes: number[]
  linkMbit: number
  mib: number
  chunkKib: number
  /** undefined: the seed-only run spreads the same revision as the swarm */
  centralCapS: number | undefined
  mode: 'auto' | FleetMode
}

/**
 * 5 Mbit/s (0.6 MiB/s): at about 0.1 CPU-s per MiB a device receives and 0.76 cores for an idle
 * mesh of 16, a 16-device swarm needs about 1.7 of this machine's 2 cores, so the links set the
 * pace. Faster links on 2 cores measure the CPU instead.
 */
const DEFAULT_LINK_MBIT = 5

/**
 * 128 KiB: on a slow link a chunk must arrive whole before its receiver can pass it on, so the
 * time for a release to reach the whole floor grows with the chunk's time on the wire (0.2 s at
 * this link's full rate, about 1 s at a fifth of it). 16 devices at 5 Mbit/s, one run each:
 * 256 KiB 93.6 s, 128 KiB 82.3 s, 64 KiB 78.3 s, the last with the machine 85 % busy (its cost
 * per chunk set the pace, not the links).
 */
const DEFAULT_CHUNK_KIB = 128

/** Above this share of the machine busy, the CPU may have set the pace instead of the links. */
const BUSY_WARNING = 0.85

/**
 * `spread`: one release spread over fleets of several sizes, each device on a link of its own
 * rate, against the same fleet in which only the seed serves (one laptop pushing to every
 * device). The floor's bound is one device fetching the revision alone at its link rate.
 */
export const spreadBenchmark: Benchmark = {
  name: 'spread',
  summary: 'a release over fleets of 4, 8, 16: swarm against the seed serving alone',
  options: command =>
    command
      .addOption(
        new Option('--sizes <list>', 'fleet sizes, seed included, comma-separated')
          .argParser(sizeList)
          .default([4, 8, 16], '4,8,16'),
      )
      .addOption(
        new Option('--link-mbit <rate>', 'netns: each device link, both ways, in Mbit/s')
          .argParser(positiveNumber)
          .default(DEFAULT_LINK_MBIT),
      )
      .addOption(
        new Option('--mib <n>', 'size of the generated revision in MiB')
          .argParser(positiveInteger)
          // 32 MiB is 54 s at 5 Mbit/s: the floor's few seconds of start-up do not dominate
          .default(32),
      )
      .addOption(
        new Option('--chunk-kib <size>', 'chunk size of the release in KiB')
          .argParser(positiveInteger)
          .default(DEFAULT_CHUNK_KIB),
      )
      .addOption(
        new Option(
          '--central-cap-s <s>',
          'netns: longest the seed-only run may take at the link rate; beyond it the seed-only ' +
            'run spreads a smaller revision and its time is scaled up, start-up included, so ' +
            'it reads a few per cent high (default: no cap, the same revision)',
        ).argParser(positiveNumber),
      )
      .addOption(
        new Option('--mode <mode>', 'netns needs root; auto picks it when it can')
          .choices(['auto', 'netns', 'inprocess'])
          .default('auto'),
      ),
  run: (options, reporter) => runSpread(options as unknown as SpreadOptions, reporter),
}

async function runSpread(options: SpreadOptions, reporter: BenchReporter): Promise<BenchResult[]> {
  const mode = await chooseMode(options.mode, reporter)
  const linkMbit = mode === 'netns' ? options.linkMbit : undefined
  const space = await workspace('spread')
  try {
    const largest = Math.max(...options.sizes)
    // every device keeps its copy, and the swarm floor is up while the seed-only one starts
    await checkFreeSpace(space.dir, 2 * largest * options.mib * MIB)
    const revisions = new Map<number, { path: string; bytes: number }>()
    const revision = async (mib: number): Promise<{ path: string; bytes: number }> => {
      let made = revisions.get(mib)
      if (made === undefined) {
        const generated = await generateRevision({
          path: join(space.dir, `revision-${mib}mib.tar`),
          totalBytes: mib * MIB,
          seed: 'pvswarm-bench-spread',
        })
        made = { path: generated.path, bytes: generated.objectBytes }
        revisions.set(mib, made)
      }
      return made
    }
    const full = await revision(options.mib)

    const lines: BenchResult[] = []
    for (const devices of options.sizes) {
      const centralMib = centralRevisionMib(options, devices, linkMbit)
      const central = await revision(centralMib)
      reporter.detail(`${devices} devices, ${mode}${linkMbit ? ` at ${linkMbit} Mbit/s` : ''}:`)
      const chunkBytes = options.chunkKib * 1024
      const swarm = await spreadOnce(mode, devices, linkMbit, chunkBytes, full.path, false)
      reporter.detail(`  swarm     ${describe(swarm)}`)
      const alone = await spreadOnce(mode, devices, linkMbit, chunkBytes, central.path, true)
      reporter.detail(`  seed only ${describe(alone)}`)
      const scale = full.bytes / central.bytes
      if (scale !== 1) {
        reporter.detail(
          `  seed only spread ${mibText(central.bytes)} MiB instead of ${mibText(full.bytes)} ` +
            `(--central-cap-s ${options.centralCapS}); its time is scaled ×${scale.toFixed(2)}`,
        )
      }
      const line = resultLine({ mode, devices, linkMbit, swarm, alone, scale, chunkBytes })
      for (const result of [swarm, alone]) {
        if ((result.cpu.machineBusy ?? 0) > BUSY_WARNING) {
          reporter.detail(
            `  the machine was ${percent(result.cpu.machineBusy)} busy: the CPU ` +
              'may have set the pace, not the links; try a lower --link-mbit',
          )
        }
      }
      reporter.detail(`  ${JSON.stringify(line)}`)
      lines.push(line)
    }
    return lines
  } finally {
    await space.remove()
  }
}

async function chooseMode(
  asked: SpreadOptions['mode'],
  reporter: BenchReporter,
): Promise<FleetMode> {
  if (asked === 'inprocess') return 'inprocess'
  try {
    await checkNetnsSupport()
    return 'netns'
  } catch (err) {
    if (asked === 'netns' || !(err instanceof NetnsUnavailableError)) throw err
    reporter.detail(
      `no network namespaces (${err.message}): in-process on loopback, links unshaped, ` +
        'so there is no link-rate bound and the figures measure this machine, not a LAN',
    )
    return 'inprocess'
  }
}

/**
 * The seed-only floor moves (devices − 1) revisions through the seed's one link: at 16 devices
 * and 5 Mbit/s that is 15 minutes. Past a cap it spreads the largest whole-MiB revision that
 * fits instead. The scaled time includes the floor's start-up and trial scaled too: at 16
 * devices, 902-934 s scaled from 2 MiB against 887 s measured at 32 MiB.
 */
function centralRevisionMib(
  options: SpreadOptions,
  devices: number,
  linkMbit: number | undefined,
): number {
  if (linkMbit === undefined || options.centralCapS === undefined) return options.mib
  const seedLinkMibPerS = (linkMbit * 1e6) / 8 / MIB
  const fits = Math.floor((options.centralCapS * seedLinkMibPerS) / Math.max(1, devices - 1))
  return Math.max(1, Math.min(options.mib, fits))
}

async function spreadOnce(
  mode: FleetMode,
  devices: number,
  linkMbit: number | undefined,
  chunkBytes: number,
  revisionPath: string,
  serveOnlyAsSeed: boolean,
): Promise<SequenceResult> {
  const run = await runFleet(
    // static discovery: the floor's start-up is not what is measured
    { devices, mode, linkMbit, chunkBytes, discovery: 'static', serveOnlyAsSeed },
    [revisionPath],
  )
  const result = run.sequences[0]
  if (result === undefined) throw new Error('the fleet published nothing')
  return result
}

function resultLine(init: {
  mode: FleetMode
  devices: number
  linkMbit: number | undefined
  swarm: SequenceResult
  alone: SequenceResult
  scale: number
  chunkBytes: number
}): BenchResult {
  const { swarm, alone, linkMbit } = init
  const centralSeconds = alone.seconds * init.scale
  const boundSeconds =
    linkMbit === undefined ? undefined : (swarm.revisionBytes * 8) / (linkMbit * 1e6)
  return {
    bench: 'spread',
    mode: init.mode,
    devices: init.devices,
    revision_bytes: swarm.revisionBytes,
    link_mbit: linkMbit ?? null,
    chunk_bytes: init.chunkBytes,
    swarm_s: round(swarm.seconds, 2),
    central_s: round(centralSeconds, 2),
    bound_s: boundSeconds === undefined ? null : round(boundSeconds, 2),
    efficiency: boundSeconds === undefined ? null : round(boundSeconds / swarm.seconds, 3),
    speedup: round(centralSeconds / swarm.seconds, 2),
    seed_upload_bytes: swarm.servedBySeedBytes,
    duplicate_bytes: swarm.duplicateBytes,
    // served beyond received: chunks sent again after a request timed out, cut off or not
    served_bytes: swarm.servedBySeedBytes + swarm.servedByPeersBytes,
    received_bytes: receivedBytes(swarm),
    all_done: swarm.allDone && alone.allDone,
    // what the seed-only figure was measured on, when it is scaled
    central_revision_bytes: alone.revisionBytes,
    central_measured_s: round(alone.seconds, 2),
    central_served_bytes: alone.servedBySeedBytes,
    central_received_bytes: receivedBytes(alone),
    swarm_cpu_cores: round(swarm.cpu.cores, 2),
    swarm_machine_busy: roundOrNull(swarm.cpu.machineBusy),
    central_cpu_cores: round(alone.cpu.cores, 2),
    central_machine_busy: roundOrNull(alone.cpu.machineBusy),
  }
}

/** Payload bytes the devices took in, from the seed and from each other. */
function receivedBytes(result: SequenceResult): number {
  return result.devices.reduce((sum, d) => sum + d.bytesFromSeed + d.bytesFromPeers, 0)
}

function describe(result: SequenceResult): string {
  const done = result.devices.filter(d => d.outcome === 'DONE' || d.outcome === 'UPDATED')
  return (
    `${result.seconds.toFixed(1)} s, ${done.length}/${result.devices.length} done, seed served ` +
    `${mibText(result.servedBySeedBytes)} MiB, peers ${mibText(result.servedByPeersBytes)} MiB, ` +
    `devices received ${mibText(receivedBytes(result))} MiB; ` +
    formatCpu(result.cpu)
  )
}

function mibText(bytes: number): string {
  return (bytes / MIB).toFixed(1)
}

function percent(fraction: number | undefined): string {
  return `${Math.round((fraction ?? 0) * 100)}%`
}

function roundOrNull(value: number | undefined): number | null {
  return value === undefined ? null : round(value, 2)
}

function positiveNumber(text: string): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`expected a number > 0, got "${text}"`)
  }
  return value
}

/** "4,8,16": fleet sizes of at least 2 (a seed and one device to reach). */
function sizeList(text: string): number[] {
  const sizes = text.split(',').map(part => Number(part.trim()))
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 2) {
      throw new InvalidArgumentError(`expected fleet sizes ≥ 2 like "4,8,16", got "${text}"`)
    }
  }
  return sizes
}
