import { pino, type Logger } from 'pino'
import {
  findPvCtrlSocket,
  Handover,
  PvCtrlClient,
  PvCtrlUnavailableError,
  type HandoverOutcome,
  type RunCommand,
} from '../pantavisor/index.js'
import type { HandoverSchedule } from '../policy/index.js'
import type { DaemonConfig } from './config.js'
import { Device, type DeviceNetwork } from './device.js'
import { IncomingSeeds } from './incoming.js'
import { startStatusApi, type StatusApi } from './status-api.js'
import { buildNetwork } from './network.js'

/** What a running device is made of, for the CLI, the simulator and tests. */
export interface RunningDevice {
  device: Device
  /** the hand-over to Pantavisor, absent on a download-only device */
  handover: Handover | undefined
  api: StatusApi | undefined
  /** the drop-box `pvswarm seed` uses while this daemon runs */
  seeds: IncomingSeeds
  logger: Logger
  stop(): Promise<void>
}

export interface StartDeviceExtras {
  /** a logger to use instead of a new pino logger on stderr */
  logger?: Logger
  /** multiaddr prefixes exempt from the inbound connection rate limit (loopback simulations) */
  allowHosts?: string[]
  /** pause between trial progress reads. @default 2000 */
  trialPollIntervalMs?: number
  /** replaces the libp2p node (tests) */
  network?: (dataDir: string) => Promise<DeviceNetwork>
}

/**
 * Starts a whole device from its configuration: store, libp2p node, exchange,
 * seeds drop-box, hand-over to Pantavisor (resumed where the last run
 * stopped) and the local status API.
 */
export async function startDevice(
  config: DaemonConfig,
  extras: StartDeviceExtras = {},
): Promise<RunningDevice> {
  const logger = extras.logger ?? pino({ level: config.logLevel }, pino.destination(2))
  const client = await pvctrlClient(config, logger)

  let handover: Handover | undefined
  const device = await Device.start({
    dataDir: config.data,
    logger,
    policy: {
      fleet: config.fleet,
      trustedKeys: config.trust,
      threshold: config.threshold,
      clockTrusted: config.clockTrusted,
      maxRevisionBytes: config.maxRevisionBytes,
    },
    network: async () =>
      extras.network !== undefined
        ? extras.network(config.data)
        : buildNetwork(config, logger, extras.allowHosts),
    exchange: {
      maxConcurrentUploads: config.uploadSlots,
      uploadRateBytesPerSecond: config.uploadRateBytesPerSecond,
      serveOnlyAsSeed: config.serveOnlyAsSeed,
    },
    onComplete: async (id, release) => {
      if (handover === undefined) return
      await handover.handOver(release)
    },
  })

  if (client !== undefined) {
    handover = new Handover({
      store: device.store,
      client,
      runCommand: config.runCommand as RunCommand,
      schedule: parseSchedule(config.handover),
      pollIntervalMs: extras.trialPollIntervalMs,
      logger: logger.child({ room: 'pantavisor' }),
    })
    const settle = (phase: 'installed' | 'failed') => (outcome: HandoverOutcome) => {
      void device.releases.setPhase(outcome.releaseId, phase)
      logger.info(
        { releaseId: outcome.releaseId, status: outcome.status, message: outcome.statusMsg },
        phase === 'installed'
          ? 'trial held: release installed'
          : 'trial failed: release will not be tried again',
      )
    }
    handover.on('installed', settle('installed'))
    handover.on('failed', settle('failed'))
    void handover
      .resume()
      .catch(err => logger.error({ err: (err as Error).message }, 'hand-over resume failed'))
  }

  const seeds = new IncomingSeeds(
    config.data,
    request => device.seed(request.release, request.revisionPath),
    logger,
  )
  await seeds.start()
  const api =
    config.api === undefined ? undefined : await startStatusApi(config.api, device, () => handover)

  let stopping: Promise<void> | undefined
  return {
    device,
    handover,
    api,
    seeds,
    logger,
    stop() {
      stopping ??= (async () => {
        await api?.close()
        await seeds.stop()
        await handover?.stop()
        await device.stop()
      })()
      return stopping
    },
  }
}

async function pvctrlClient(
  config: DaemonConfig,
  logger: Logger,
): Promise<PvCtrlClient | undefined> {
  if (config.pvctrl === 'none') return undefined
  try {
    const socketPath = config.pvctrl ?? (await findPvCtrlSocket())
    return new PvCtrlClient({ socketPath })
  } catch (err) {
    if (!(err instanceof PvCtrlUnavailableError)) throw err
    logger.warn({ reason: err.message }, 'no pv-ctrl socket: this device only downloads and serves')
    return undefined
  }
}

/** `now`, `never`, or a daily window `HH:MM-HH:MM` (local time). */
export function parseSchedule(text: string): HandoverSchedule {
  if (text === 'now' || text === 'never') return { mode: text }
  const window = /^(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(text)
  if (window === null) {
    throw new RangeError(`handover: expected now, never or HH:MM-HH:MM, got "${text}"`)
  }
  return { mode: 'window', start: window[1]!, end: window[2]! }
}
