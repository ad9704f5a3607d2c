import { setTimeout as delay } from 'node:timers/promises'
import { rebootDecision } from './pvctrl-emulator-reboot.js'
import {
  isSafeRelativePath,
  progressDocument,
  type EmulatorStorage,
  type ProgressDocument,
} from './pvctrl-emulator-storage.js'

/** How the emulated device reacts to one revision. */
export interface TrialScript {
  /**
   * How the trial ends. `error`: a container fails during TESTING (ERROR,
   * rolled back). `wontgo`: refused before running (bad signature…).
   * `rollback`: the revision hangs the device; the bootloader rolls it back
   * at the next boot (ERROR "Unexpected rollback"); until a reboot it stays
   * in TESTING.
   * @default 'success'
   */
  outcome?: 'success' | 'error' | 'wontgo' | 'rollback'
  /**
   * Overrides how LOCAL_RUN runs the revision: `true` reboots (ends DONE),
   * `false` restarts containers only (ends UPDATED). LOCAL_RUN_COMMIT reboots
   * regardless.
   * @default decided as Pantavisor does, by comparing the state with the running one
   */
  reboot?: boolean
  /** status-msg of an ERROR or WONTGO ending. @default Pantavisor's message for that case */
  statusMsg?: string
  /** Refuse the state on `PUT /steps` with 422 `Secureboot: <this>` (a signature check failing). */
  rejectOnPut?: string
}

/** Pauses of the emulated update flow. */
export interface TrialDelays {
  /** from `POST /commands` until Pantavisor's main loop picks the command up. @default 10 */
  pickupMs?: number
  /** INPROGRESS before the revision is up (or before the trial's reboot). @default 30 */
  inProgressMs?: number
  /** TESTING (PV_UPDATER_COMMIT_DELAY, 25 s on a device). @default 30 */
  testingMs?: number
  /** how long the socket is gone during a reboot. @default 30 */
  rebootDownMs?: number
}

export const DEFAULT_DELAYS: Required<TrialDelays> = {
  pickupMs: 10,
  inProgressMs: 30,
  testingMs: 30,
  rebootDownMs: 30,
}

/** Answer of the command queue when it refuses. */
export interface CommandRefusal {
  status: number
  message: string
  retryAfterSeconds?: number
}

export interface TrialHooks {
  storage: EmulatorStorage
  delays: Required<TrialDelays>
  script(rev: string): TrialScript
  /** Retry-After values, in seconds */
  retryAfter: { updateRunning: number; commandPending: number }
  /** take the socket down during the trial's own reboot, or undefined to skip that */
  bounce?: (signal: AbortSignal) => Promise<void>
  onProgress(rev: string, document: ProgressDocument): void
  onCommand(op: string, payload: string): void
}

export const KNOWN_OPS = new Set([
  'UPDATE_METADATA',
  'REBOOT_DEVICE',
  'POWEROFF_DEVICE',
  'TRY_ONCE',
  'LOCAL_RUN',
  'MAKE_FACTORY',
  'RUN_GC',
  'ENABLE_SSH',
  'DISABLE_SSH',
  'GO_REMOTE',
  'DEFER_REBOOT',
  'LOCAL_RUN_COMMIT',
  'LOCAL_APPLY',
  'XCONNECT_GRAPH',
  'UNCLAIM',
])

// Commands Pantavisor refuses while an update is under way (ctrl_cmd.c).
const BLOCKED_BY_UPDATE = new Set([
  'REBOOT_DEVICE',
  'POWEROFF_DEVICE',
  'LOCAL_RUN',
  'LOCAL_RUN_COMMIT',
  'MAKE_FACTORY',
  'UNCLAIM',
])

const SHA = /^[0-9a-f]{64}$/

/** Objects of a state: every value that is an object id, by key. Undefined when unusable. */
export function stateObjects(bytes: Uint8Array): Map<string, string> | undefined {
  let state: unknown
  try {
    state = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state)) return undefined
  const objects = new Map<string, string>()
  for (const [key, value] of Object.entries(state)) {
    if (key === '#spec') continue
    if (!isSafeRelativePath(key)) return undefined
    if (typeof value === 'string' && SHA.test(value)) objects.set(key, value)
  }
  return objects
}

interface Update {
  rev: string
  reboot: boolean
  objects: Set<string>
  missing: boolean
}

/** Pantavisor's command queue and update state machine, for one device. */
export class TrialEngine {
  private pending: { op: string; payload: string } | undefined
  private update: Update | undefined
  private controller = new AbortController()

  constructor(private readonly hooks: TrialHooks) {}

  /** The revision of the update under way, if any. */
  get updating(): string | undefined {
    return this.update?.rev
  }

  /** Ids of the objects of the update under way: GC spares them. */
  get protectedObjects(): ReadonlySet<string> {
    return this.update?.objects ?? new Set()
  }

  /** `POST /commands`: queue, or say why not. */
  submit(op: string, payload: string): CommandRefusal | undefined {
    if (op === 'UPDATE_METADATA') {
      return { status: 409, message: 'Cannot do this operation while on local mode' }
    }
    if (this.update !== undefined && BLOCKED_BY_UPDATE.has(op)) {
      return {
        status: 503,
        message: 'Cannot do this operation while update is ongoing',
        retryAfterSeconds: this.hooks.retryAfter.updateRunning,
      }
    }
    if (this.pending !== undefined) {
      return {
        status: 503,
        message: 'A command is already in progress. Try again',
        retryAfterSeconds: this.hooks.retryAfter.commandPending,
      }
    }
    this.pending = { op, payload }
    const signal = this.controller.signal
    delay(this.hooks.delays.pickupMs, undefined, { signal }).then(
      () => this.pickUp(),
      () => undefined,
    )
    return undefined
  }

  private pickUp(): void {
    const command = this.pending
    this.pending = undefined
    if (command === undefined) return
    this.hooks.onCommand(command.op, command.payload)
    // TRY_ONCE, LOCAL_APPLY and the rest are accepted and then ignored, as on a device
    if (command.op !== 'LOCAL_RUN' && command.op !== 'LOCAL_RUN_COMMIT') return
    if (this.update !== undefined) return
    const signal = this.controller.signal
    this.run(command.payload, command.op === 'LOCAL_RUN_COMMIT', signal).catch(err => {
      if (!signal.aborted) throw err
    })
  }

  private progress(rev: string, status: string, message: string): void {
    const document = progressDocument(status, message)
    this.hooks.storage.writeProgress(rev, document)
    this.hooks.onProgress(rev, document)
  }

  private async run(rev: string, commit: boolean, signal: AbortSignal): Promise<void> {
    const { storage, delays } = this.hooks
    const script = this.hooks.script(rev)
    const state = storage.readState(rev)
    if (state === undefined) return this.progress(rev, 'WONTGO', 'State JSON not found')
    if (script.outcome === 'wontgo') {
      return this.progress(rev, 'WONTGO', script.statusMsg ?? 'Signature validation failed')
    }
    const objects = stateObjects(state)
    if (objects === undefined) return this.progress(rev, 'WONTGO', 'State JSON has bad format')

    const reboot =
      commit ||
      (script.reboot ?? rebootDecision(storage.readState(storage.device.revision), state).reboot)
    const missing = storage.linkObjects(rev, objects).length > 0
    this.update = { rev, reboot, objects: new Set(objects.values()), missing }
    storage.updateDevice({ trying: { rev, reboot } })
    this.progress(
      rev,
      'INPROGRESS',
      reboot ? 'Rebooting' : 'Transitioning to new revision without rebooting',
    )
    await delay(delays.inProgressMs, undefined, { signal })

    if (reboot) {
      if (this.hooks.bounce !== undefined) await this.hooks.bounce(signal)
      if (script.outcome === 'rollback') return this.conclude('ERROR', 'Unexpected rollback')
      this.progress(rev, 'INPROGRESS', 'Trying new revision')
    }
    if (missing) return this.conclude('ERROR', 'Object validation went wrong')

    this.progress(
      rev,
      'TESTING',
      reboot
        ? 'Awaiting to set rollback point if update is stable'
        : 'Awaiting to see if update is stable',
    )
    // a hung revision stays in TESTING until the device reboots
    if (script.outcome === 'rollback') return new Promise(() => undefined)
    await delay(delays.testingMs, undefined, { signal })

    if (script.outcome === 'error') {
      return this.conclude('ERROR', script.statusMsg ?? 'A container could not be started')
    }
    if (reboot) return this.conclude('DONE', 'Update finished, revision set as rollback point')
    this.conclude('UPDATED', 'Update finished, revision not set as rollback point')
  }

  private conclude(status: 'DONE' | 'UPDATED' | 'ERROR', message: string): void {
    const update = this.update
    if (update === undefined) return
    const { storage } = this.hooks
    // the device record changes before the progress, so whoever sees DONE sees the new revision
    if (status === 'DONE') storage.updateDevice({ revision: update.rev, done: update.rev })
    if (status === 'UPDATED') storage.updateDevice({ revision: update.rev })
    storage.updateDevice({ trying: undefined })
    this.update = undefined
    this.progress(update.rev, status, message)
  }

  /**
   * The device goes down: queued work is lost, timers stop, and a trial under
   * way ends as the next boot would decide it.
   */
  powerCycle(): void {
    this.controller.abort()
    this.controller = new AbortController()
    this.pending = undefined
    this.concludeAfterBoot()
  }

  /** A trial recorded on disk ends as the next boot decides: DONE, or ERROR. */
  concludeAfterBoot(): void {
    const trying = this.hooks.storage.device.trying
    if (trying === undefined) return
    const { storage } = this.hooks
    const script = this.hooks.script(trying.rev)
    const state = storage.readState(trying.rev)
    const objects = state === undefined ? undefined : stateObjects(state)
    this.update = {
      rev: trying.rev,
      reboot: trying.reboot,
      objects: new Set(objects?.values() ?? []),
      missing: objects === undefined || [...objects.values()].some(sha => !storage.hasObject(sha)),
    }
    if (script.outcome === 'rollback') return this.conclude('ERROR', 'Unexpected rollback')
    if (this.update.missing) return this.conclude('ERROR', 'Object validation went wrong')
    if (script.outcome === 'error') {
      return this.conclude('ERROR', script.statusMsg ?? 'A container could not be started')
    }
    this.conclude('DONE', 'Update finished, revision set as rollback point')
  }

  /** Stops every timer for good. */
  stop(): void {
    this.controller.abort()
    this.pending = undefined
  }
}
