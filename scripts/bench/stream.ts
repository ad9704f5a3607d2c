import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Option } from 'commander'
import type { RunningDevice } from '../../src/node/daemon.js'
import { missingDeviceFlags } from '../../src/node/runtime-flags.js'
import { generateReleaseKey, releaseId } from '../../src/release/index.js'
import { BareStreamPair } from './bare-stream.js'
import { bigRelease } from './big-release.js'
import { completed, downloadFrom, startBenchDevice } from './devices.js'
import {
  formatThreadCpu,
  MajorGcCounter,
  threadCpu,
  threadCpuSince,
  type ThreadCpu,
} from './threads.js'
import type { Benchmark, BenchReporter, BenchResult } from './types.js'
import {
  cpuSecondsSince,
  median,
  MIB,
  positiveInteger,
  round,
  TRANSFER_DEADLINE_MS,
  within,
} from './figures.js'
import { checkFreeSpace, workspace } from './workspace.js'

const FLEET = 'bench'

interface StreamOptions {
  mib: number
  runs: number
  deviceFlags: boolean
}

interface Leg {
  seconds: number
  cpuSeconds: number
  threads: ThreadCpu
  majorGcs: number
}

/**
 * `stream`: one large object fetched from one peer through the whole of pvswarm (release
 * announced and verified, the exchange's chunk protocol, every chunk verified, written and the
 * object published in the store), against a bare libp2p stream of the same bytes between two
 * nodes built the same way, in the same process and the same run. The two legs alternate so
 * that whatever else the machine does falls on both. The process runs with a device's node
 * flags unless --no-device-flags.
 */
export const streamBenchmark: Benchmark = {
  name: 'stream',
  summary: 'one large object from one peer: pvswarm against a bare libp2p stream',
  options: command =>
    command
      .addOption(
        new Option('--mib <n>', 'size of the object in MiB (at least 1)')
          .argParser(positiveInteger)
          .default(256),
      )
      .addOption(
        new Option('--runs <n>', 'runs of each leg; the median is reported')
          .argParser(positiveInteger)
          .default(3),
      )
      .option(
        '--no-device-flags',
        'run both legs without the node flags the pvswarm launcher gives a device',
      ),
  run: (options, reporter) => {
    const chosen = options as unknown as StreamOptions
    if (chosen.deviceFlags) restartWithDeviceFlags()
    return runStream(chosen, reporter)
  },
}

/**
 * Both legs run in this process, so it runs with the flags a device runs with (bin/pvswarm.js,
 * src/node/runtime-flags.ts): what the pvswarm leg measures is then what a device does, and the
 * bare leg, in the same process, gets the same heap. V8 sizes its heap at start-up, so the
 * process starts again with them (execve keeps its pid and output); it carries on as it is
 * where execve is missing (Node < 22.15), and the result line names the flags it ran with.
 */
function restartWithDeviceFlags(): void {
  const missing = missingDeviceFlags(process.execArgv, process.env.NODE_OPTIONS)
  if (missing.length === 0 || typeof process.execve !== 'function') return
  const args = [...process.execArgv, ...missing, ...process.argv.slice(1)]
  process.execve(process.execPath, [process.execPath, ...args])
}

async function runStream(options: StreamOptions, reporter: BenchReporter): Promise<BenchResult> {
  const objectBytes = options.mib * MIB
  const space = await workspace('stream')
  const devices: RunningDevice[] = []
  let bare: BareStreamPair | undefined
  let gcs: MajorGcCounter | undefined
  try {
    // the export, the seed's copy and one downloader's copy at a time
    await checkFreeSpace(space.dir, 3 * objectBytes)
    const key = generateReleaseKey()

    let startedAt = performance.now()
    const big = await bigRelease({ dir: space.dir, objectBytes, key, fleet: FLEET })
    const id = releaseId(big.release)
    const generateSeconds = (performance.now() - startedAt) / 1000

    const seed = await startBenchDevice(space.dir, 'seed', FLEET, key.publicKey)
    devices.push(seed)
    startedAt = performance.now()
    await seed.device.seed(big.release, big.revisionPath)
    const seedSeconds = (performance.now() - startedAt) / 1000
    await rm(big.revisionPath)
    reporter.detail(
      `${options.mib} MiB object: generated and described in ${generateSeconds.toFixed(1)} s, ` +
        `seeded in ${seedSeconds.toFixed(1)} s`,
    )

    bare = await BareStreamPair.start()
    gcs = new MajorGcCounter()
    const swarmLegs: Leg[] = []
    const bareLegs: Leg[] = []
    for (let run = 1; run <= options.runs; run++) {
      const swarm = await swarmLeg(space.dir, seed, key.publicKey, id, run, big.objectBytes, gcs)
      swarmLegs.push(swarm)
      const yardstick = await bareLeg(bare, big.objectBytes, gcs)
      bareLegs.push(yardstick)
      reporter.detail(`run ${run}: pvswarm     ${describeLeg(big.objectBytes, swarm)}`)
      reporter.detail(`       bare libp2p ${describeLeg(big.objectBytes, yardstick)}`)
    }

    const swarmSeconds = median(swarmLegs.map(leg => leg.seconds))
    const bareSeconds = median(bareLegs.map(leg => leg.seconds))
    // both legs move every object of the release: the large one and a few KiB besides
    const swarmRate = big.objectBytes / MIB / swarmSeconds
    const bareRate = big.objectBytes / MIB / bareSeconds
    return {
      bench: 'stream',
      mib: options.mib,
      pvswarm_mib_s: round(swarmRate),
      bare_libp2p_mib_s: round(bareRate),
      ratio: round(swarmRate / bareRate, 3),
      runs: options.runs,
      pvswarm_cpu_s: round(median(swarmLegs.map(leg => leg.cpuSeconds)), 2),
      bare_libp2p_cpu_s: round(median(bareLegs.map(leg => leg.cpuSeconds)), 2),
      pvswarm_major_gcs: median(swarmLegs.map(leg => leg.majorGcs)),
      bare_libp2p_major_gcs: median(bareLegs.map(leg => leg.majorGcs)),
      seed_s: round(seedSeconds, 2),
      node_flags: process.execArgv.join(' '),
    }
  } finally {
    gcs?.stop()
    await bare?.stop()
    for (const device of devices) await device.stop()
    await space.remove()
  }
}

/** One download by a fresh device, timed from "download started" to "done". */
async function swarmLeg(
  root: string,
  seed: RunningDevice,
  trustedKey: string,
  id: string,
  run: number,
  expectedBytes: number,
  gcs: MajorGcCounter,
): Promise<Leg> {
  const name = `peer-${run}`
  const peer = await startBenchDevice(root, name, FLEET, trustedKey)
  try {
    const { download, startedAt, startCpu, startThreads } = await downloadFrom(peer, seed, id)
    const gcsAtStart = gcs.count
    const recorded = completed(peer, id)
    const stats = await within(download.done, TRANSFER_DEADLINE_MS, `pvswarm download ${run}`)
    const seconds = (performance.now() - startedAt) / 1000
    const cpuSeconds = cpuSecondsSince(startCpu)
    const threads = threadCpuSince(startThreads)
    const majorGcs = gcs.count - gcsAtStart
    // the device records the release as complete after `done`: stopping sooner races that write
    await recorded
    if (stats.bytesTotal !== expectedBytes) {
      throw new Error(`pvswarm leg fetched ${stats.bytesTotal} bytes, expected ${expectedBytes}`)
    }
    return { seconds, cpuSeconds, threads, majorGcs }
  } finally {
    await peer.stop()
    await rm(join(root, name), { recursive: true, force: true })
  }
}

async function bareLeg(pair: BareStreamPair, bytes: number, gcs: MajorGcCounter): Promise<Leg> {
  const startCpu = process.cpuUsage()
  const startThreads = threadCpu()
  const gcsAtStart = gcs.count
  const transfer = await within(pair.transfer(bytes), TRANSFER_DEADLINE_MS, 'bare transfer')
  return {
    seconds: transfer.ms / 1000,
    cpuSeconds: cpuSecondsSince(startCpu),
    threads: threadCpuSince(startThreads),
    majorGcs: gcs.count - gcsAtStart,
  }
}

function describeLeg(bytes: number, leg: Leg): string {
  return (
    `${(bytes / MIB / leg.seconds).toFixed(1)} MiB/s (${leg.seconds.toFixed(2)} s; ` +
    `CPU-s ${leg.cpuSeconds.toFixed(2)}: ${formatThreadCpu(leg.threads)}; ` +
    `${leg.majorGcs} full GCs)`
  )
}
