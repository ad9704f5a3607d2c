import { pino, type Logger } from 'pino'
import {
  findPvCtrlSocket,
  Handover,
  HandoverBusyError,
  HandoverRefusedError,
  HandoverStoppedError,
  PvCtrlClient,
  PvObjectChunks,
  PvCtrlTimeoutError,
  PvCtrlUnavailableError,
  type HandoverOutcome,
  type RunCommand,
} from '../pantavisor/index.js'
import type { HandoverSchedule } from '../policy/index.js'
import { releaseId, type Release } from '../release/index.js'
import { isHandoverSchedule, type DaemonConfig } from './config.js'
import { Device, type DeviceNetwork } from './device.js'
import { dropStoreCopies } from './drop-copies.js'
import { installedLookup, layeredStore, type LayeredStore } from './layered-store.js'
import type { AcceptedReleases } from './release-book.js'
import { IncomingSeeds } from './incoming.js'
import { startStatusApi, type StatusApi } from './status-api.js'
import { buildNetwork } from './network.js'
import { startOperatorViews, type OperatorViews, type OperatorViewsOptions } from './operator.js'

/** What a running device is made of, for the CLI, the simulator and tests. */
export interface RunningDevice {
  device: Device
  /** the hand-over to Pantavisor, absent on a download-only device */
  handover: Handover | undefined
  api: StatusApi | undefined
  /** the floor view, gossip, download tracker and metrics */
  views: OperatorViews
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
  /** first wait before a hand-over pv-ctrl did not answer is tried again. @default 5000 */
  handoverRetryMs?: number
  /** replaces the libp2p node (tests) */
  network?: (dataDir: string) => Promise<DeviceNetwork>
  /** floor timing (tests shorten it) */
  floor?: Pick<OperatorViewsOptions, 'floorExpireMs' | 'floorRefreshMs' | 'floorPushIntervalMs'>
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
  let layered: LayeredStore | undefined
  const settled = new Set<string>()
  /** Records a trial's outcome once, however it was learnt (hand-over now, or resumed). */
  const settle = async (outcome: HandoverOutcome | undefined): Promise<void> => {
    if (outcome === undefined || settled.has(outcome.releaseId)) return
    settled.add(outcome.releaseId)
    const phase = outcome.result
    // the hand-over put objects into Pantavisor: a list of them fetched before is out of date, and
    // a download starting now would fetch again what Pantavisor already holds
    layered?.forgetListing()
    await device.releases.setPhase(outcome.releaseId, phase)
    if (phase === 'installed' && dropCopies && client !== undefined) {
      await dropCopiesOf(device.releases, outcome.releaseId, client, logger)
    }
    // the release before this one in its fleet may be retired only now (its hand-over is over)
    await device.removeRetiredObjects().catch(err => {
      logger.warn({ err: (err as Error).message }, 'objects of superseded releases kept')
    })
    logger.info(
      { releaseId: outcome.releaseId, status: outcome.status, message: outcome.statusMsg },
      phase === 'installed'
        ? 'trial held: release installed'
        : 'trial failed: release will not be tried again',
    )
    device.emit('release:settled', { id: outcome.releaseId, outcome })
    handOnWaiting()
  }
  /**
   * A hand-over that failed because pv-ctrl did not answer (not there yet, restarting, timing
   * out) is tried again, later each time, with the newest complete release then: without this a
   * device would keep its old revision until its next restart.
   */
  const firstRetryMs = extras.handoverRetryMs ?? HANDOVER_RETRY_FIRST_MS
  let retryMs = firstRetryMs
  let retryTimer: NodeJS.Timeout | undefined
  let stopped = false
  const handOnLater = (release: Release, err: Error): void => {
    if (stopped) return
    logger.warn(
      { releaseId: releaseId(release), err: err.message, retryInMs: retryMs },
      'hand-over failed: pv-ctrl did not answer; trying again later',
    )
    clearTimeout(retryTimer)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      handOnWaiting()
    }, retryMs)
    retryMs = Math.min(HANDOVER_RETRY_MAX_MS, 2 * retryMs)
  }
  /** Hands a complete release over; one refused because a trial was under way waits for it. */
  const handOn = async (release: Release): Promise<void> => {
    if (handover === undefined) return
    try {
      const outcome = await handover.handOver(release)
      retryMs = firstRetryMs
      await settle(outcome)
    } catch (err) {
      if (isPvCtrlGone(err)) {
        handOnLater(release, err as Error)
        return
      }
      if (err instanceof HandoverRefusedError) {
        // settled already, or by the resume (a stop came between the outcome and the book)
        logger.info({ releaseId: releaseId(release), reason: err.message }, 'not handed over again')
        return
      }
      // stopped with the daemon, or replaced by a newer release: nothing went wrong
      if (err instanceof HandoverStoppedError) return
      if (!(err instanceof HandoverBusyError)) throw err
      logger.info(
        { releaseId: releaseId(release), reason: err.message },
        'hand-over waits for the trial under way',
      )
    }
  }
  /**
   * Once a trial ends, the newest release of each fleet that completed in the
   * meantime (and was refused as busy then) goes next; without this it would
   * wait for the next restart.
   */
  const handOnWaiting = (): void => {
    for (const fleet of new Set(device.releases.records().map(([, record]) => record.fleet))) {
      const newest = device.releases.newestOf(fleet)
      const release = newest === undefined ? undefined : device.releases.get(newest.id)
      if (newest?.record.phase !== 'complete' || release === undefined) continue
      handOn(release).catch(err => {
        logger.error({ releaseId: newest.id, err: (err as Error).message }, 'hand-over failed')
      })
    }
  }
  const pvChunks = client === undefined ? undefined : new PvObjectChunks(client)
  const dropCopies = client !== undefined && (config.dropStoreCopies ?? true)
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
      uploadDeadlineMs: config.uploadDeadlineSeconds * 1000,
      serveOnlyAsSeed: config.serveOnlyAsSeed,
    },
    exchangeStore: (store, releases) =>
      pvChunks === undefined
        ? store
        : (layered = layeredStore(
            store,
            pvChunks,
            installedLookup(() => installedReleases(releases)),
            {
              logger: logger.child({ room: 'pantavisor' }),
            },
          )),
    // a device without pv-ctrl only downloads and serves: nothing to do once a release is complete
    ...(client !== undefined && { onComplete: (_id: string, release: Release) => handOn(release) }),
  })

  // from here on a failure (an API address in use…) must not leave a half-started daemon behind
  let seeds: IncomingSeeds | undefined
  let views: OperatorViews | undefined
  let api: StatusApi | undefined
  // in reverse order of starting; every step runs even when one before it failed
  const stopStarted = async (): Promise<void> => {
    stopped = true
    clearTimeout(retryTimer)
    const steps = [
      () => api?.close(),
      () => seeds?.stop(),
      () => views?.stop(),
      () => handover?.stop(),
      () => device.stop(),
    ]
    const failures: unknown[] = []
    for (const step of steps) await Promise.resolve(step()).catch(err => failures.push(err))
    if (failures.length > 0) throw failures[0]
  }
  try {
    if (client !== undefined) {
      handover = new Handover({
        store: device.store,
        client,
        runCommand: config.runCommand as RunCommand,
        schedule: parseSchedule(config.handover),
        pollIntervalMs: extras.trialPollIntervalMs,
        logger: logger.child({ room: 'pantavisor' }),
      })
      const resumed = handover
      void resumed
        .resume()
        .then(async outcome =>
          settle(outcome ?? (await unsettledOutcome(resumed, device.releases))),
        )
        .catch(err => logger.error({ err: (err as Error).message }, 'hand-over resume failed'))
    }
    views = await startOperatorViews(device, handover, {
      ...extras.floor,
      name: config.name,
      fleet: config.fleet,
      logger,
    })
    // only now may a download or hand-over left by the last run go on: with the hand-over in
    // place, and with the operator views listening (status, floor and metrics follow a download
    // from its start; one resumed before them went unseen)
    device.resume()
    seeds = new IncomingSeeds(
      config.data,
      request => device.seed(request.release, request.revisionPath),
      logger,
    )
    await seeds.start()
    api =
      config.api === undefined
        ? undefined
        : await startStatusApi(config.api, device, () => handover, views)
  } catch (err) {
    await stopStarted().catch(() => {})
    throw err
  }

  let stopping: Promise<void> | undefined
  return {
    device,
    handover,
    api,
    views,
    seeds,
    logger,
    stop() {
      stopping ??= stopStarted()
      return stopping
    },
  }
}

/**
 * The last hand-over's outcome when the release book has not caught up with
 * it: the daemon stopped after the hand-over saved the outcome and before the
 * book did.
 */
async function unsettledOutcome(
  handover: Handover,
  releases: AcceptedReleases,
): Promise<HandoverOutcome | undefined> {
  const outcome = (await handover.status())?.outcome
  if (outcome === undefined) return undefined
  const phase = releases.record(outcome.releaseId)?.phase
  return phase === undefined || phase === outcome.result ? undefined : outcome
}

/** Releases whose revision Pantavisor runs: their objects can be served from there. */
function installedReleases(releases: AcceptedReleases) {
  return releases
    .records()
    .filter(([, record]) => record.phase === 'installed')
    .flatMap(([id]) => {
      const release = releases.get(id)
      return release === undefined ? [] : [release]
    })
}

async function dropCopiesOf(
  releases: AcceptedReleases,
  id: string,
  client: PvCtrlClient,
  logger: Logger,
): Promise<void> {
  const installed = releases.get(id)
  if (installed === undefined) return
  const stillNeeded = releases
    .records()
    .filter(
      ([otherId, record]) =>
        otherId !== id && record.phase !== 'installed' && record.phase !== 'failed',
    )
    .flatMap(([otherId]) => {
      const release = releases.get(otherId)
      return release === undefined ? [] : [{ id: otherId, objects: release.objects }]
    })
  try {
    await dropStoreCopies({
      store: releases.store,
      listPantavisorObjects: () => client.listObjects(),
      installed: { id, objects: installed.objects },
      stillNeeded,
      logger,
    })
  } catch (err) {
    // keeping a copy is always safe
    logger.warn({ releaseId: id, err: (err as Error).message }, 'store copies kept')
  }
}

async function pvctrlClient(
  config: DaemonConfig,
  logger: Logger,
): Promise<PvCtrlClient | undefined> {
  if (config.pvctrl === 'none') return undefined
  try {
    const socketPath = config.pvctrl ?? (await findPvCtrlSocket())
    if (config.pvctrl !== undefined) {
      // kept: Pantavisor may create it later; but a mistyped path should not wait unnoticed
      await findPvCtrlSocket([socketPath]).catch((err: Error) =>
        logger.warn(
          { pvctrl: socketPath, reason: err.message },
          'pv-ctrl socket not found (yet): hand-overs fail until it is there',
        ),
      )
    }
    return new PvCtrlClient({ socketPath })
  } catch (err) {
    if (!(err instanceof PvCtrlUnavailableError)) throw err
    logger.warn({ reason: err.message }, 'no pv-ctrl socket: this device only downloads and serves')
    return undefined
  }
}

/** First wait before a hand-over pv-ctrl did not answer is tried again; it doubles each time… */
const HANDOVER_RETRY_FIRST_MS = 5_000
/** …up to this. */
const HANDOVER_RETRY_MAX_MS = 5 * 60_000

/** pv-ctrl did not answer: gone, not there yet, or too slow. Its refusals are not in here. */
function isPvCtrlGone(err: unknown): boolean {
  return err instanceof PvCtrlUnavailableError || err instanceof PvCtrlTimeoutError
}

/** `now`, `never`, or a daily window `HH:MM-HH:MM` (local time). */
export function parseSchedule(text: string): HandoverSchedule {
  if (!isHandoverSchedule(text)) {
    throw new RangeError(`handover: expected now, never or HH:MM-HH:MM, got "${text}"`)
  }
  if (text === 'now' || text === 'never') return { mode: text }
  const [start, end] = text.split('-') as [string, string]
  return { mode: 'window', start, end }
}
