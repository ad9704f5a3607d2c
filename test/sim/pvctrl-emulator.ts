import { EventEmitter, once } from 'node:events'
import { lstatSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { route, type EmulatorCore } from './pvctrl-emulator-routes.js'
import { EmulatorStorage, type ProgressDocument } from './pvctrl-emulator-storage.js'
import {
  DEFAULT_DELAYS,
  TrialEngine,
  type TrialDelays,
  type TrialScript,
} from './pvctrl-emulator-trial.js'

export type { TrialDelays, TrialScript } from './pvctrl-emulator-trial.js'
export type { ProgressDocument } from './pvctrl-emulator-storage.js'

/**
 * A stand-in for Pantavisor's control socket, faithful to the endpoint table,
 * status codes and progress flow of the C code (docs/pantavisor.md): objects
 * and trails live on disk in Pantavisor's layout, uploads are streamed and
 * hashed, LOCAL_RUN runs a timed trial that reboots (DONE) or restarts
 * containers only (UPDATED) as the difference from the running revision
 * decides, GC deletes what no run revision links.
 */
export interface PvCtrlEmulatorOptions {
  /**
   * Folder standing in for /storage. Kept on close, so a new emulator on the
   * same folder is the same device after a power cycle.
   * @default a fresh temporary folder, removed on close
   */
  dir?: string
  /** Unix socket to listen on. @default `<dir>/pv-ctrl` */
  socketPath?: string
  /** Bytes the objects may take in all; an upload past it gets 507. @default Infinity */
  quotaBytes?: number
  /**
   * What `PUT /objects` answers when the quota runs out mid-upload. 507 is
   * the documented answer; 200 is what Pantavisor's C code actually puts on
   * the wire (ctrl_objects_ep.c replies OK before ctrl_upload.c tries 507).
   * Either way the truncated file stays, as on a device.
   * @default 507
   */
  objectNoSpaceStatus?: 200 | 507
  /**
   * Refuse every endpoint but /signal, as for a container without the mgmt
   * role: 403, except 400 "Method not supported for this endpoint" on
   * GET /objects/<sha> and PUT /steps/locals/<name>, where pv-ctrl's router
   * keeps a later refusal. @default false
   */
  notMgmt?: boolean
  /** Pauses of the update flow. @default DEFAULT_DELAYS (tens of milliseconds) */
  delays?: TrialDelays
  /** Scripted behaviour per revision name (e.g. `locals/bad`); unnamed ones succeed. @default {} */
  trials?: Record<string, TrialScript>
  /**
   * Take the socket away during the trial's own reboot (LOCAL_RUN_COMMIT, or a
   * LOCAL_RUN that changes the BSP, a top-level key or a system container, or
   * the first install), as a real device does. @default false
   */
  rebootDuringTrial?: boolean
  /**
   * Retry-After values in seconds. Test-only knob: Pantavisor always says 600
   * while an update runs and 120 while a command waits.
   * @default { updateRunning: 600, commandPending: 120 }
   */
  retryAfterSeconds?: { updateRunning?: number; commandPending?: number }
  /** Extra device-meta entries (values as text, as Pantavisor stores them). @default {} */
  deviceMeta?: Record<string, string>
}

/** Where a revision's progress now stands, as events and waitFor report it. */
export interface ProgressEvent {
  rev: string
  progress: ProgressDocument
}

/** One answered request. */
export interface RequestEvent {
  method: string
  path: string
  status: number
}

/**
 * Events: `progress` (ProgressEvent) on every progress write, `command`
 * ({op, payload}) when a queued command is picked up, `request`
 * (RequestEvent) per answer, `down` and `up` around a reboot.
 */
export class PvCtrlEmulator extends EventEmitter {
  readonly dir: string
  readonly socketPath: string
  /** flip at any time to emulate a container without the mgmt role */
  notMgmt: boolean
  /** change at any time to make the disk fill up */
  quotaBytes: number

  private readonly storage: EmulatorStorage
  private readonly trials: TrialEngine
  private readonly scripts: Map<string, TrialScript>
  private readonly delays: Required<TrialDelays>
  private readonly ownsDir: boolean
  private readonly extraMeta: Record<string, string>
  private readonly objectNoSpaceStatus: 200 | 507
  private server: Server | undefined
  private closed = false

  constructor(options: PvCtrlEmulatorOptions = {}) {
    super()
    this.ownsDir = options.dir === undefined
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'pvctrl-emulator-'))
    this.socketPath = options.socketPath ?? join(this.dir, 'pv-ctrl')
    this.notMgmt = options.notMgmt ?? false
    this.quotaBytes = options.quotaBytes ?? Number.POSITIVE_INFINITY
    this.delays = { ...DEFAULT_DELAYS, ...options.delays }
    this.scripts = new Map(Object.entries(options.trials ?? {}))
    this.extraMeta = options.deviceMeta ?? {}
    this.objectNoSpaceStatus = options.objectNoSpaceStatus ?? 507
    this.storage = new EmulatorStorage(this.dir)
    const rebootDuringTrial = options.rebootDuringTrial ?? false
    this.trials = new TrialEngine({
      storage: this.storage,
      delays: this.delays,
      script: rev => this.script(rev),
      retryAfter: {
        updateRunning: options.retryAfterSeconds?.updateRunning ?? 600,
        commandPending: options.retryAfterSeconds?.commandPending ?? 120,
      },
      ...(rebootDuringTrial ? { bounce: signal => this.bounce(signal) } : {}),
      onProgress: (rev, progress) => this.emit('progress', { rev, progress }),
      onCommand: (op, payload) => this.emit('command', { op, payload }),
    })
    // a trial cut short by a power cut ends as the next boot decides
    this.trials.concludeAfterBoot()
  }

  /** The running revision, as `pantavisor.revision` reports it. */
  get revision(): string {
    return this.storage.device.revision
  }

  /** True while the socket answers. */
  get isUp(): boolean {
    return this.server !== undefined
  }

  /** A revision's stored progress, if any. */
  progress(rev: string): ProgressDocument | undefined {
    return this.storage.readProgress(rev)
  }

  /** Path of an object in storage (it may not exist). */
  objectPath(sha256: string): string {
    return this.storage.objectPath(sha256)
  }

  hasObject(sha256: string): boolean {
    return this.storage.hasObject(sha256)
  }

  /** Replaces the script of one revision. */
  setTrialScript(rev: string, script: TrialScript): void {
    this.scripts.set(rev, script)
  }

  private script(rev: string): TrialScript {
    return this.scripts.get(rev) ?? {}
  }

  /** Starts answering on the socket. */
  async listen(): Promise<void> {
    if (this.closed) throw new Error('pv-ctrl emulator: listen after close')
    if (this.server !== undefined) return
    removeStaleSocket(this.socketPath)
    const core = this.core()
    const server = createServer({ requireHostHeader: false }, (req, res) => {
      res.on('finish', () =>
        this.emit('request', { method: req.method, path: req.url, status: res.statusCode }),
      )
      route(core, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
    })
    // uploads of hundreds of MB must not hit Node's default request timeout
    server.requestTimeout = 0
    server.listen(this.socketPath)
    await once(server, 'listening')
    this.server = server
    this.emit('up')
  }

  private core(): EmulatorCore {
    // getters, so that flipping notMgmt or quotaBytes takes effect at once
    const self = this
    return {
      storage: this.storage,
      trials: this.trials,
      get notMgmt() {
        return self.notMgmt
      },
      get quotaBytes() {
        return self.quotaBytes
      },
      objectNoSpaceStatus: this.objectNoSpaceStatus,
      script: rev => this.script(rev),
      deviceMeta: () => [
        ['pantavisor.arch', 'x86_64/64/EL'],
        ['pantavisor.mode', 'local'],
        ['pantavisor.revision', this.storage.device.revision],
        ['pantavisor.version', 'pvctrl-emulator'],
        ...Object.entries(this.extraMeta),
      ],
      onProgress: (rev, progress) => this.emit('progress', { rev, progress }),
    }
  }

  private async goDown(): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise(resolve => server.close(resolve))
    server.closeAllConnections()
    await closed
    this.emit('down')
  }

  /** The trial's own reboot: gone for rebootDownMs, then back with the trial going on. */
  private async bounce(signal: AbortSignal): Promise<void> {
    await this.goDown()
    await delay(this.delays.rebootDownMs, undefined, { signal })
    if (!this.closed) await this.listen()
  }

  /**
   * The device reboots: the socket disappears for `downMs`, queued commands
   * are lost, and a trial under way is concluded as the next boot would:
   * DONE, or ERROR ("Unexpected rollback" for a `rollback` script). Resolves
   * once the socket answers again.
   */
  async reboot(options: { downMs?: number } = {}): Promise<void> {
    await this.goDown()
    this.trials.powerCycle()
    await delay(options.downMs ?? this.delays.rebootDownMs)
    if (!this.closed) await this.listen()
  }

  /**
   * Resolves when `rev` (any revision when omitted) has progress `status`:
   * at once if it already has, else on the write that makes it so.
   */
  waitFor(status: string, rev?: string): Promise<ProgressEvent> {
    if (rev !== undefined) {
      const now = this.storage.readProgress(rev)
      if (now?.status === status) return Promise.resolve({ rev, progress: now })
    }
    return new Promise((resolve, reject) => {
      const onProgress = (event: ProgressEvent): void => {
        if (event.progress.status !== status || (rev !== undefined && event.rev !== rev)) return
        this.off('progress', onProgress)
        this.off('close', onClose)
        resolve(event)
      }
      const onClose = (): void => {
        this.off('progress', onProgress)
        reject(new Error(`pv-ctrl emulator closed while waiting for ${rev ?? 'any'} ${status}`))
      }
      this.on('progress', onProgress)
      this.once('close', onClose)
    })
  }

  /** Stops for good; the folder stays unless the emulator made it. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.trials.stop()
    await this.goDown()
    this.emit('close')
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path)
  } catch {
    // absent: nothing to remove
  }
}

/** Creates an emulator and starts answering on its socket. */
export async function startPvCtrlEmulator(
  options: PvCtrlEmulatorOptions = {},
): Promise<PvCtrlEmulator> {
  const emulator = new PvCtrlEmulator(options)
  await emulator.listen()
  return emulator
}
