import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { FloorGossip } from '../exchange/index.js'
import type { Handover } from '../pantavisor/index.js'
import type { Device } from './device.js'
import { DownloadTracker } from './download-tracker.js'
import { FloorReporter } from './floor-reporter.js'
import { FloorView } from './floor.js'
import { DeviceMetrics } from './metrics.js'

export interface OperatorViewsOptions {
  /** the name shown for this device on the floor. @default the hostname */
  name?: string
  fleet: string
  logger: Logger
  /** A device not heard of for this long leaves the floor view. @default 60000 */
  floorExpireMs?: number
  /** This device re-stamps its own entry this often, so peers keep it. @default 20000 */
  floorRefreshMs?: number
  /** Floor changes are pushed to peers at most this often. @default 1000 */
  floorPushIntervalMs?: number
}

/** What the operator sees of a device: the floor, its downloads, its metrics. */
export interface OperatorViews {
  name: string
  floor: FloorView
  gossip: FloorGossip
  metrics: DeviceMetrics
  downloads: DownloadTracker
  stop(): Promise<void>
}

/** Starts the floor gossip and the views the local API serves. */
export async function startOperatorViews(
  device: Device,
  handover: Handover | undefined,
  options: OperatorViewsOptions,
): Promise<OperatorViews> {
  const name = options.name ?? (hostname() || 'device')
  const floor = new FloorView({
    selfPeer: device.peerId.toString(),
    expireMs: options.floorExpireMs,
  })
  const gossip = new FloorGossip({
    node: device.network.libp2p,
    entries: scope => floor.entries(scope),
    onEntries: entries => floor.merge(entries),
    minPushIntervalMs: options.floorPushIntervalMs,
    logger: options.logger.child({ room: 'floor' }),
  })
  // news heard from one peer goes on to the others: that is how the floor spreads
  floor.on('changed', () => gossip.changed())
  const downloads = new DownloadTracker(device)
  const metrics = new DeviceMetrics({ device, handover, floor })
  const reporter = new FloorReporter({
    device,
    handover,
    view: floor,
    name,
    fleet: options.fleet,
    refreshMs: options.floorRefreshMs,
    onChange: () => gossip.changed(),
  })
  await gossip.start()
  return {
    name,
    floor,
    gossip,
    metrics,
    downloads,
    async stop() {
      reporter.stop()
      downloads.detach()
      metrics.detach()
      await gossip.stop()
    },
  }
}
