/**
 * One download-only device in a process of its own, so that its memory is its own to measure.
 * Started as `node device-process.js '<json>'` with a DeviceProcessSpec; it dials `dial`, waits
 * for the release `releaseId` to be accepted and fetched, and reports on stdout, one JSON line
 * per event: `ready`, `started`, `done` (with the download's counters) or `failed`. It stops
 * when its stdin ends, so a benchmark that dies does not leave it running.
 */
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { startDevice } from '../../src/node/daemon.js'
import type { SwarmLibp2p } from '../../src/node/libp2p.js'
import { benchDeviceConfig, LOOPBACK } from './devices.js'

export interface DeviceProcessSpec {
  dataDir: string
  fleet: string
  /** the release key the device trusts, `ed25519:…` */
  trust: string
  /** multiaddr (with /p2p/) of the device to fetch from */
  dial: string
  releaseId: string
}

/** process.memoryUsage() in bytes, as sampled at the moment of the highest RSS. */
export interface MemorySample {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export type DeviceProcessReport =
  | { event: 'ready' }
  | { event: 'started' }
  | {
      event: 'done'
      seconds: number
      bytesTotal: number
      cpuSeconds: number
      /** the sample with the highest RSS during the download: what the peak was made of */
      atPeak: MemorySample
    }
  | { event: 'failed'; message: string }

/** How often the process looks at its own memory while downloading. */
const SAMPLE_INTERVAL_MS = 50

function report(line: DeviceProcessReport): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

async function main(): Promise<void> {
  const text = process.argv[2]
  if (text === undefined) throw new Error('expected the device spec as JSON in argv[2]')
  const spec = JSON.parse(text) as DeviceProcessSpec
  const running = await startDevice(benchDeviceConfig(spec.dataDir, spec.fleet, spec.trust), {
    logger: pino({ level: 'warn' }, pino.destination(2)),
    allowHosts: [LOOPBACK],
  })
  const { device } = running
  let startedAt = 0
  let startCpu = process.cpuUsage()
  let atPeak: MemorySample = process.memoryUsage()
  const sampler = setInterval(() => {
    const sample = process.memoryUsage()
    if (sample.rss > atPeak.rss) atPeak = sample
  }, SAMPLE_INTERVAL_MS)
  device.on('download:started', ({ id }) => {
    if (id !== spec.releaseId) return
    startedAt = performance.now()
    startCpu = process.cpuUsage()
    report({ event: 'started' })
  })
  // reported once the release is recorded complete, so a stop right after cannot race that write
  device.on('download:complete', ({ id, stats }) => {
    if (id !== spec.releaseId) return
    const cpu = process.cpuUsage(startCpu)
    report({
      event: 'done',
      seconds: (performance.now() - startedAt) / 1000,
      bytesTotal: stats?.bytesTotal ?? 0,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      atPeak,
    })
  })
  device.on('download:failed', ({ id, error }) => {
    if (id === spec.releaseId) report({ event: 'failed', message: error.message })
  })
  device.on('release:refused', ({ id, reason }) => {
    if (id === spec.releaseId) report({ event: 'failed', message: `release refused: ${reason}` })
  })
  report({ event: 'ready' })
  // startDevice builds the node with createSwarmLibp2p when no network is given
  await (device.network.libp2p as unknown as SwarmLibp2p).dial(multiaddr(spec.dial))

  for await (const _line of createInterface({ input: process.stdin })) {
    // nothing is asked of this process: it only waits for its stdin to end
  }
  clearInterval(sampler)
  await running.stop()
}

main().then(
  () => process.exit(0),
  err => {
    report({ event: 'failed', message: (err as Error).stack ?? String(err) })
    process.exit(1)
  },
)
