import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { resolveDaemonConfig, type DaemonConfig } from '../../src/node/config.js'
import { startDevice, type RunningDevice } from '../../src/node/daemon.js'
import type { Download } from '../../src/exchange/index.js'
import type { SwarmLibp2p } from '../../src/node/libp2p.js'
import { threadCpu, type ThreadCpu } from './threads.js'

/** Every bench device lets its loopback neighbours in without libp2p's per-host rate limit. */
export const LOOPBACK = '/ip4/127.0.0.1'

/**
 * The configuration of a download-only bench device on loopback: no mDNS, no DHT, no pv-ctrl,
 * peers only where the benchmark dials them, so the run measures the transfer and nothing else.
 */
export function benchDeviceConfig(
  dataDir: string,
  fleet: string,
  trustedKey: string,
  overrides: Partial<DaemonConfig> = {},
): DaemonConfig {
  return resolveDaemonConfig(
    {},
    {
      data: dataDir,
      fleet,
      trust: [trustedKey],
      listen: [`${LOOPBACK}/tcp/0`],
      mdns: false,
      dht: false,
      pvctrl: 'none',
      logLevel: 'warn',
      ...overrides,
    },
    `bench device ${dataDir}`,
  )
}

/** A whole device in this process; its log (warnings and errors) goes to stderr. */
export async function startBenchDevice(
  root: string,
  name: string,
  fleet: string,
  trustedKey: string,
): Promise<RunningDevice> {
  const config = benchDeviceConfig(join(root, name), fleet, trustedKey)
  return startDevice(config, {
    logger: pino({ level: process.env.PVSWARM_BENCH_LOG ?? 'warn' }, pino.destination(2)).child({
      device: name,
    }),
    allowHosts: [LOOPBACK],
  })
}

/** A device's first address with its peer id. */
export function addressOf(device: RunningDevice): string {
  const address = device.device.network.libp2p.getMultiaddrs()[0]
  if (address === undefined) throw new Error('bench device has no address')
  return address.toString()
}

/** A download as it started: the moment and the CPU counters then. */
export interface StartedDownload {
  download: Download
  startedAt: number
  startCpu: NodeJS.CpuUsage
  startThreads: ThreadCpu
}

/**
 * Connects `downloader` to `source` and resolves with the download of `releaseId` the moment it
 * starts (the release was announced, verified and accepted): the start of the timed part.
 */
export async function downloadFrom(
  downloader: RunningDevice,
  source: RunningDevice,
  releaseId: string,
): Promise<StartedDownload> {
  const started = new Promise<StartedDownload>((resolve, reject) => {
    downloader.device.on('download:started', ({ id, download }) => {
      if (id !== releaseId) return
      resolve({
        download,
        startedAt: performance.now(),
        startCpu: process.cpuUsage(),
        startThreads: threadCpu(),
      })
    })
    downloader.device.on('release:refused', ({ id, reason }) => {
      if (id === releaseId) reject(new Error(`the downloader refused the release: ${reason}`))
    })
  })
  // startDevice without a replacement network builds the node with createSwarmLibp2p
  const libp2p = downloader.device.network.libp2p as unknown as SwarmLibp2p
  await libp2p.dial(multiaddr(addressOf(source)))
  return started
}

/** Resolves once the device has recorded the release as complete (after its download's `done`). */
export function completed(device: RunningDevice, releaseId: string): Promise<void> {
  return new Promise(resolve => {
    const listener = ({ id }: { id: string }): void => {
      if (id !== releaseId) return
      device.device.off('download:complete', listener)
      resolve()
    }
    device.device.on('download:complete', listener)
  })
}
