import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { resolveDaemonConfig } from '../../src/node/config.js'
import { startDevice, type RunningDevice } from '../../src/node/daemon.js'
import {
  FINAL_STATUSES,
  localRevisionName,
  type HandoverOutcome,
} from '../../src/pantavisor/index.js'
import type { Release } from '../../src/release/index.js'
import {
  startPvCtrlEmulator,
  type PvCtrlEmulator,
  type TrialDelays,
  type TrialScript,
} from './pvctrl-emulator.js'

/**
 * One simulated device: a whole pvswarm device started from a daemon
 * configuration, beside its own pv-ctrl emulator. It reports what the
 * simulator shows — download progress, bytes received per peer, trial
 * progress and outcome as the device's hand-over recorded them — as events,
 * the same in one process or (through device-process.ts) in a process of its
 * own.
 */
export interface SimDeviceSpec {
  name: string
  /** folder of this device: `data/` (its data directory) and `pv/` (its emulated /storage) */
  dir: string
  fleet: string
  /** trusted release keys, `ed25519:…` */
  trust: string[]
  /** libp2p listen addresses */
  listen: string[]
  /** static peers (multiaddrs with /p2p/); the in-process floor's only discovery. @default [] */
  peers?: string[]
  /** discover peers by mDNS (netns floors only: on the host it would leave loopback). @default false */
  mdns?: boolean
  /** DHT provider records. @default false */
  dht?: boolean
  /** serve only releases this device seeded (the central baseline). @default false */
  serveOnlyAsSeed?: boolean
  /** multiaddr prefixes exempt from libp2p's inbound rate limit (many devices on 127.0.0.1) */
  allowHosts?: string[]
  /** scripted trial endings by release sequence; unnamed sequences succeed. @default {} */
  trialsBySequence?: Record<number, TrialScript>
  /** pauses of the emulated update flow. @default the emulator's (tens of milliseconds) */
  trialDelays?: TrialDelays
  /** how often the hand-over reads trial progress. @default 100 */
  trialPollIntervalMs?: number
  /** the device's log, pino JSON lines; undefined = no log */
  logFile?: string
  /** @default 'info' when logFile is set */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error'
}

/** Counters of one finished download, as the downloader saw it. */
export interface SimDownloadResult {
  releaseId: string
  bytesTotal: number
  /** peer id → payload bytes received from it, duplicates included */
  bytesByPeer: Record<string, number>
  duplicateBytes: number
}

export interface SimDeviceEvents {
  accepted: [{ releaseId: string; sequence: number }]
  progress: [{ releaseId: string; bytesDone: number; bytesTotal: number }]
  complete: [SimDownloadResult]
  /** a trial's status changed; `final` for DONE/UPDATED/ERROR/WONTGO */
  trial: [{ releaseId: string; status: string; statusMsg: string; final: boolean }]
  failed: [{ releaseId: string; message: string }]
  /** the device is gone (its process died); nothing more will come from it */
  lost: [{ message: string }]
}

/** What a device has served and who it is connected to. */
export interface SimDeviceStats {
  bytesServed: number
  /** peer id → bytes served to it */
  bytesServedByPeer: Record<string, number>
  connectedPeers: number
}

/** The surface the fleet drives, the same for a device in this process or in another one. */
export interface SimDeviceHandle extends EventEmitter<SimDeviceEvents> {
  readonly name: string
  readonly peerId: string
  /** libp2p addresses with /p2p/<peer id> */
  readonly addresses: readonly string[]
  seed(release: Release, revisionPath: string): Promise<string>
  stats(): Promise<SimDeviceStats>
  stop(): Promise<void>
}

/** A device and its pv-ctrl emulator in this process. */
export class SimDevice extends EventEmitter<SimDeviceEvents> implements SimDeviceHandle {
  readonly name: string
  readonly #running: RunningDevice
  readonly #emulator: PvCtrlEmulator
  readonly #logger: Logger
  #stopping: Promise<void> | undefined

  private constructor(
    name: string,
    running: RunningDevice,
    emulator: PvCtrlEmulator,
    logger: Logger,
    spec: SimDeviceSpec,
  ) {
    super()
    this.name = name
    this.#running = running
    this.#emulator = emulator
    this.#logger = logger
    this.#wire(spec)
  }

  static async start(spec: SimDeviceSpec): Promise<SimDevice> {
    const dataDir = join(spec.dir, 'data')
    const pvDir = join(spec.dir, 'pv')
    await mkdir(pvDir, { recursive: true })
    const emulator = await startPvCtrlEmulator({
      dir: pvDir,
      ...(spec.trialDelays === undefined ? {} : { delays: spec.trialDelays }),
    })
    const logger =
      spec.logFile === undefined
        ? pino({ level: 'silent' })
        : pino(
            { level: spec.logLevel ?? 'info', base: { device: spec.name } },
            pino.destination({ dest: spec.logFile, append: true, mkdir: true, sync: false }),
          )
    try {
      const config = resolveDaemonConfig(
        {},
        {
          data: dataDir,
          fleet: spec.fleet,
          trust: spec.trust,
          listen: spec.listen,
          peer: spec.peers ?? [],
          mdns: spec.mdns ?? false,
          dht: spec.dht ?? false,
          pvctrl: emulator.socketPath,
          serveOnlyAsSeed: spec.serveOnlyAsSeed ?? false,
          logLevel: spec.logLevel ?? 'info',
        },
        `device ${spec.name}`,
      )
      const running = await startDevice(config, {
        logger,
        allowHosts: spec.allowHosts ?? [],
        trialPollIntervalMs: spec.trialPollIntervalMs ?? 100,
      })
      return new SimDevice(spec.name, running, emulator, logger, spec)
    } catch (err) {
      await emulator.close()
      throw err
    }
  }

  get peerId(): string {
    return this.#running.device.peerId.toString()
  }

  get addresses(): string[] {
    return this.#running.device.network.libp2p.getMultiaddrs().map(a => a.toString())
  }

  /** The emulator, for scenarios that script trials or reboot the device. */
  get emulator(): PvCtrlEmulator {
    return this.#emulator
  }

  get running(): RunningDevice {
    return this.#running
  }

  seed(release: Release, revisionPath: string): Promise<string> {
    return this.#running.device.seed(release, revisionPath)
  }

  async stats(): Promise<SimDeviceStats> {
    const { device } = this.#running
    const upload = device.exchange.uploadStats()
    return {
      bytesServed: upload.bytesServed,
      bytesServedByPeer: upload.bytesServedByPeer,
      connectedPeers: device.network.libp2p.getPeers().length,
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      try {
        await this.#running.stop()
      } finally {
        await this.#emulator.close()
        this.#logger.flush?.()
      }
    })()
    return this.#stopping
  }

  #wire(spec: SimDeviceSpec): void {
    const { device } = this.#running
    device.on('release:accepted', ({ id, release }) => {
      const revision = localRevisionName(release, id)
      // set before the hand-over can start: acceptance always precedes it
      const script = spec.trialsBySequence?.[release.sequence]
      if (script !== undefined) this.#emulator.setTrialScript(revision, script)
      this.emit('accepted', { releaseId: id, sequence: release.sequence })
    })
    device.on('download:started', ({ id, download }) => {
      download.on('progress', p =>
        this.emit('progress', { releaseId: id, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
      )
    })
    device.on('download:complete', ({ id, stats }) => {
      this.emit('complete', {
        releaseId: id,
        bytesTotal: stats?.bytesTotal ?? 0,
        bytesByPeer: stats?.bytesReceivedByPeer ?? {},
        duplicateBytes: stats?.duplicateBytes ?? 0,
      })
    })
    device.on('download:failed', ({ id, error }) =>
      this.emit('failed', { releaseId: id, message: error.message }),
    )
    // the device's own account of its trials, as its hand-over recorded them
    const { handover } = this.#running
    handover?.on('progress', ({ releaseId, progress }) => {
      if (FINAL_STATUSES.has(progress.status)) return
      this.emit('trial', { releaseId, status: progress.status, statusMsg: '', final: false })
    })
    const settled = (outcome: HandoverOutcome): void => {
      this.emit('trial', {
        releaseId: outcome.releaseId,
        // Pantavisor refusing the state on PUT /steps is a refusal before running
        status: outcome.status === 'REJECTED' ? 'WONTGO' : outcome.status,
        statusMsg: outcome.statusMsg,
        final: true,
      })
    }
    handover?.on('installed', settled)
    handover?.on('failed', settled)
  }
}
