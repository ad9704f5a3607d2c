import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Option } from 'commander'
import type { RunningDevice } from '../../src/node/daemon.js'
import { missingDeviceFlags } from '../../src/node/runtime-flags.js'
import { generateReleaseKey, releaseId } from '../../src/release/index.js'
import { bigRelease } from './big-release.js'
import type { DeviceProcessReport, DeviceProcessSpec, MemorySample } from './device-process.js'
import { addressOf, startBenchDevice } from './devices.js'
import type { Benchmark, BenchReporter, BenchResult } from './types.js'
import { MIB, positiveInteger, round, TRANSFER_DEADLINE_MS, within } from './figures.js'
import { checkFreeSpace, workspace } from './workspace.js'

const FLEET = 'bench'

/** How often the downloader's RSS is read besides its own high-water mark. */
const SAMPLE_INTERVAL_MS = 50

interface MemoryOptions {
  mib: number
  nodeFlags?: string
  deviceFlags: boolean
}

/**
 * `memory`: the peak resident memory of a download-only device fetching one large object
 * (1 GiB by default) from a seed. The downloader runs in a process of its own, so what is
 * measured is a device's memory and nothing of the benchmark's; the peak is the kernel's own
 * high-water mark (VmHWM), read before the process is told to stop.
 */
export const memoryBenchmark: Benchmark = {
  name: 'memory',
  summary: 'peak RSS of a device (its own process) fetching one large object',
  options: command =>
    command
      .addOption(
        new Option('--mib <n>', 'size of the object in MiB')
          .argParser(positiveInteger)
          .default(1024),
      )
      .option(
        '--node-flags <flags>',
        'flags for the downloader\'s node, e.g. "--max-semi-space-size=4"; ' +
          'one given here wins over the device default of the same name',
      )
      .option(
        '--no-device-flags',
        'start the downloader without the flags the pvswarm launcher gives a device',
      ),
  run: (options, reporter) => runMemory(options as unknown as MemoryOptions, reporter),
}

async function runMemory(options: MemoryOptions, reporter: BenchReporter): Promise<BenchResult> {
  const objectBytes = options.mib * MIB
  const space = await workspace('memory')
  let seed: RunningDevice | undefined
  try {
    await checkFreeSpace(space.dir, 3 * objectBytes)
    const key = generateReleaseKey()
    const big = await bigRelease({ dir: space.dir, objectBytes, key, fleet: FLEET })
    seed = await startBenchDevice(space.dir, 'seed', FLEET, key.publicKey)
    await seed.device.seed(big.release, big.revisionPath)
    // the seed holds its own copy now: the export only costs disk space
    await rm(big.revisionPath)
    reporter.detail(`${options.mib} MiB object seeded; starting the downloader`)

    // the flags bin/pvswarm.js starts a device with, so the figure is a real device's
    const chosen = options.nodeFlags?.split(/\s+/).filter(flag => flag !== '') ?? []
    const nodeFlags = options.deviceFlags ? [...missingDeviceFlags(chosen, ''), ...chosen] : chosen
    const measured = await measureDownloader(
      {
        dataDir: join(space.dir, 'downloader'),
        fleet: FLEET,
        trust: key.publicKey,
        dial: addressOf(seed),
        releaseId: releaseId(big.release),
      },
      nodeFlags,
    )
    if (measured.bytesTotal !== big.objectBytes) {
      throw new Error(
        `the downloader fetched ${measured.bytesTotal} bytes, expected ${big.objectBytes}`,
      )
    }
    const mib = (bytes: number): string => (bytes / MIB).toFixed(1)
    const { atPeak } = measured
    reporter.detail(
      `downloader${nodeFlags.length > 0 ? ` (node ${nodeFlags.join(' ')})` : ''}: ` +
        `${mib(measured.idleRssBytes)} MiB resident when up, peak ${mib(measured.peakRssBytes)} MiB ` +
        `(VmHWM; highest sample ${mib(measured.highestSampleBytes)} MiB)`,
    )
    reporter.detail(
      `at the highest sample: V8 heap ${mib(atPeak.heapTotal)} MiB (${mib(atPeak.heapUsed)} in use), ` +
        `external ${mib(atPeak.external)} MiB (${mib(atPeak.arrayBuffers)} in Buffers), ` +
        `the rest (code, native) ${mib(atPeak.rss - atPeak.heapTotal - atPeak.external)} MiB`,
    )
    reporter.detail(
      `fetched in ${measured.seconds.toFixed(1)} s ` +
        `(${(big.objectBytes / MIB / measured.seconds).toFixed(1)} MiB/s, ` +
        `${measured.cpuSeconds.toFixed(1)} CPU-s)`,
    )
    return {
      bench: 'memory',
      object_mib: options.mib,
      peak_rss_mib: round(measured.peakRssBytes / MIB),
      idle_rss_mib: round(measured.idleRssBytes / MIB),
      peak_heap_mib: round(atPeak.heapTotal / MIB),
      peak_external_mib: round(atPeak.external / MIB),
      seconds: round(measured.seconds, 2),
      mib_s: round(big.objectBytes / MIB / measured.seconds),
      node_flags: nodeFlags.join(' '),
    }
  } finally {
    await seed?.stop()
    await space.remove()
  }
}

interface Measured {
  /** what the downloader saw of its own memory at its highest RSS */
  atPeak: MemorySample
  /** VmHWM once the release was complete */
  peakRssBytes: number
  /** VmRSS when the device was up, before any download */
  idleRssBytes: number
  /** the highest of the periodic VmRSS samples: a cross-check of the high-water mark */
  highestSampleBytes: number
  seconds: number
  cpuSeconds: number
  bytesTotal: number
}

/** Starts the downloader process and follows it until its download is done; then stops it. */
async function measureDownloader(spec: DeviceProcessSpec, nodeFlags: string[]): Promise<Measured> {
  const script = fileURLToPath(new URL('./device-process.js', import.meta.url))
  const child = spawn(process.execPath, [...nodeFlags, script, JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  let highest = 0
  const sampler = setInterval(() => {
    const rss = statusBytes(child, 'VmRSS')
    if (rss !== undefined && rss > highest) highest = rss
  }, SAMPLE_INTERVAL_MS)
  let finished = false
  try {
    const measured = await within(followReports(child, exited), TRANSFER_DEADLINE_MS, 'downloader')
    finished = true
    return { ...measured, highestSampleBytes: highest }
  } finally {
    clearInterval(sampler)
    // a downloader that failed or stalled may not stop when asked
    if (finished) child.stdin?.end()
    else child.kill('SIGKILL')
    const code = await exited
    if (finished && code !== 0) process.stderr.write(`bench: downloader exited with code ${code}\n`)
  }
}

/** Reads the downloader's report lines until its download is done. */
async function followReports(
  child: ChildProcess,
  exited: Promise<number | null>,
): Promise<Omit<Measured, 'highestSampleBytes'>> {
  let idle = 0
  for await (const line of createInterface({ input: child.stdout! })) {
    const report = JSON.parse(line) as DeviceProcessReport
    if (report.event === 'ready') idle = statusBytes(child, 'VmRSS') ?? 0
    if (report.event === 'failed') throw new Error(`downloader: ${report.message}`)
    if (report.event === 'done') {
      const peak = statusBytes(child, 'VmHWM')
      if (peak === undefined) throw new Error('downloader: cannot read its VmHWM')
      return {
        atPeak: report.atPeak,
        peakRssBytes: peak,
        idleRssBytes: idle,
        seconds: report.seconds,
        cpuSeconds: report.cpuSeconds,
        bytesTotal: report.bytesTotal,
      }
    }
  }
  throw new Error(`downloader exited (code ${await exited}) before its download was done`)
}

/** A size field (`VmRSS`, `VmHWM`) of /proc/<pid>/status, in bytes. */
function statusBytes(child: ChildProcess, field: string): number | undefined {
  if (child.pid === undefined || child.exitCode !== null) return undefined
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}
