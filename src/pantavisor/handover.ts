import { EventEmitter } from 'node:events'
import type { HandoverSchedule } from '../policy/index.js'
import { encodeRelease, parseRelease, releaseId, type Release } from '../release/index.js'
import type { Store } from '../store/index.js'
import { sha256Hex, shortId } from '../util/hex.js'
import type { PvCtrlClient } from './client.js'
import {
  HandoverBusyError,
  HandoverDisabledError,
  HandoverIncompleteError,
  HandoverRefusedError,
  HandoverStoppedError,
} from './handover-errors.js'
import {
  readRecord,
  recordOf,
  saveRecord,
  type HandoverOutcome,
  type HandoverRecord,
  type RunCommand,
} from './handover-record.js'
import { HandoverRun, type HandoverLogger, type HandoverPoint } from './handover-run.js'
import { localRevisionName } from './local-name.js'
import type { TrialProgress } from './progress.js'
import { checkComplete } from './upload.js'

export interface HandoverInit {
  store: Store
  client: PvCtrlClient
  /** LOCAL_RUN (reboots only when needed) or LOCAL_RUN_COMMIT (always reboots, ends DONE). @default 'LOCAL_RUN' */
  runCommand?: RunCommand
  /** pause between progress reads during a trial. @default 2000 */
  pollIntervalMs?: number
  /**
   * How long progress may stay NEW after the run command was sent before the
   * command counts as lost (a power cut before Pantavisor picked it up) and is
   * sent again. Pantavisor picks commands up within a second or two.
   * @default 60000
   */
  pickupGraceMs?: number
  /** when hand-overs may start. @default { mode: 'now' } */
  schedule?: HandoverSchedule
  /** the wall clock the schedule is read with. @default () => new Date() */
  now?: () => Date
  /** @default no logging */
  logger?: HandoverLogger
  /** For tests: called at every step boundary; what it throws ends the hand-over as a kill would. */
  atStep?: (point: HandoverPoint, record: HandoverRecord) => void | Promise<void>
}

export interface HandoverEvents {
  /** the release's revision runs: tell the peers */
  installed: [HandoverOutcome]
  /** the release failed here (refused, or rolled back) and will not be tried again */
  failed: [HandoverOutcome]
  /** the persisted record moved to another phase */
  phase: [HandoverRecord]
  /** a trial's progress changed */
  progress: [{ releaseId: string; localName: string; progress: TrialProgress }]
  /** waiting for the schedule's window */
  waiting: [{ releaseId: string; reason: string; opensAtMs: number }]
}

interface Active {
  releaseId: string
  controller: AbortController
  promise: Promise<HandoverOutcome>
  run: HandoverRun
}

const DEFAULT_POLL_INTERVAL_MS = 2_000
const DEFAULT_PICKUP_GRACE_MS = 60_000
const silent: HandoverLogger = { debug: () => {}, info: () => {}, warn: () => {} }

/**
 * Hands complete releases to Pantavisor and follows their trials, one at a
 * time, as a state machine persisted in the store's device state: every step
 * is saved before it is taken, so after a kill or the trial's own reboot,
 * resume() finishes the job without uploading or running anything twice.
 */
export class Handover extends EventEmitter<HandoverEvents> {
  readonly #init: HandoverInit
  readonly #log: HandoverLogger
  readonly #schedule: HandoverSchedule
  #active: Active | undefined
  #stopped = false
  #gate: Promise<void> = Promise.resolve()

  constructor(init: HandoverInit) {
    super()
    this.#init = init
    this.#log = init.logger ?? silent
    this.#schedule = init.schedule ?? { mode: 'now' }
  }

  /** The persisted record: what is under way, or how the last hand-over ended. */
  status(): Promise<HandoverRecord | undefined> {
    return readRecord(this.#init.store)
  }

  /**
   * Hands a complete release over (waiting for the schedule's window first)
   * and resolves with the trial's outcome. Calling it again for the same
   * release joins or continues that hand-over; one that failed here is refused.
   *
   * @throws HandoverRefusedError when the release failed on this device before
   * @throws HandoverIncompleteError when an object is missing from the store
   * @throws HandoverBusyError when another release's trial is under way
   * @throws HandoverDisabledError when the schedule is `never`
   * @throws HandoverStoppedError after stop(), or when a newer release replaced it
   */
  async handOver(release: Release): Promise<HandoverOutcome> {
    const started = await this.#gated(() => this.#begin(release))
    return started.outcome
  }

  async #begin(release: Release): Promise<{ outcome: Promise<HandoverOutcome> }> {
    this.#checkRunning()
    const id = releaseId(release)
    if (this.#active?.releaseId === id) return { outcome: this.#active.promise }
    if (this.#schedule.mode === 'never') throw new HandoverDisabledError(id)

    const { store } = this.#init
    const state = await store.readDeviceState()
    const failed = state.failedReleases[id]
    if (failed !== undefined) throw new HandoverRefusedError(id, failed.reason)
    let record = recordOf(state)
    if (record?.releaseId === id && record.outcome !== undefined) {
      return { outcome: Promise.resolve(record.outcome) }
    }
    await this.#makeRoom(id, record)

    await checkComplete(store, release, id, sha256Hex(release.revision.state), this.#init.client)
    // resume() reads the release from the store after a restart
    if ((await store.getRelease(id)) === undefined) {
      await store.putRelease(id, encodeRelease(release))
    }

    if (record?.releaseId === id) {
      // an explicit new attempt gets past an error that halted the last one
      const { halted: _retried, ...rest } = record
      record = rest
    } else {
      const nowMs = Date.now()
      record = {
        version: 1,
        releaseId: id,
        fleet: release.fleet,
        sequence: release.sequence,
        revisionSha256: release.revision.sha256,
        localName: localRevisionName(release, id),
        runCommand: this.#init.runCommand ?? 'LOCAL_RUN',
        phase: 'pending',
        startedAtMs: nowMs,
        updatedAtMs: nowMs,
      }
    }
    record = await saveRecord(store, record)
    this.#log.info(
      { releaseId: id, localName: record.localName, phase: record.phase },
      'hand-over accepted',
    )
    return { outcome: this.#start(record, release) }
  }

  /**
   * Picks up the persisted hand-over after a restart: waits for the window,
   * finishes uploading, runs, or follows the trial, as the record says.
   * Resolves with the outcome, or undefined when there is nothing to resume
   * (none, concluded, or halted on an error that needs a new handOver()).
   */
  async resume(): Promise<HandoverOutcome | undefined> {
    const started = await this.#gated(() => this.#pickUp())
    return started.outcome
  }

  async #pickUp(): Promise<{ outcome: Promise<HandoverOutcome | undefined> }> {
    this.#checkRunning()
    const record = await readRecord(this.#init.store)
    if (record === undefined || record.outcome !== undefined) {
      return { outcome: Promise.resolve(undefined) }
    }
    if (this.#active?.releaseId === record.releaseId) return { outcome: this.#active.promise }
    if (record.halted !== undefined) {
      this.#log.warn(
        { releaseId: record.releaseId, phase: record.phase, error: record.halted.message },
        'hand-over halted on an error; waiting for a new attempt',
      )
      return { outcome: Promise.resolve(undefined) }
    }
    const bytes = await this.#init.store.getRelease(record.releaseId)
    if (bytes === undefined && record.phase !== 'running') {
      throw new HandoverIncompleteError(
        `hand-over of release ${shortId(record.releaseId)} cannot resume: the release is no longer in the store`,
      )
    }
    this.#log.info({ releaseId: record.releaseId, phase: record.phase }, 'resuming hand-over')
    const release = bytes === undefined ? undefined : parseRelease(bytes)
    return { outcome: this.#start(record, release) }
  }

  /**
   * Starting a hand-over reads and writes the record: one start at a time, so
   * two calls for one release share one run. The outcome is wrapped so the
   * gate does not wait for the trial.
   */
  #gated<T>(begin: () => Promise<T>): Promise<T> {
    const result = this.#gate.then(begin)
    this.#gate = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  /** Stops waiting, uploading and following; the record stays for resume(). */
  async stop(): Promise<void> {
    this.#stopped = true
    const active = this.#active
    if (active === undefined) return
    active.controller.abort(new HandoverStoppedError('hand-over stopped'))
    await active.promise.catch(() => undefined)
  }

  #checkRunning(): void {
    if (this.#stopped) throw new HandoverStoppedError('hand-over is stopped')
  }

  /** Another release may be replaced only while nothing of it has run. */
  async #makeRoom(id: string, record: HandoverRecord | undefined): Promise<void> {
    const active = this.#active
    if (active !== undefined) {
      const phase = active.run.record.phase
      if (phase !== 'pending') {
        throw new HandoverBusyError(
          `release ${shortId(active.releaseId)} is being handed over (${phase}); release ${shortId(id)} has to wait`,
        )
      }
      active.controller.abort(new HandoverStoppedError(`replaced by release ${shortId(id)}`))
      await active.promise.catch(() => undefined)
      return
    }
    if (record !== undefined && record.releaseId !== id && record.outcome === undefined) {
      if (record.phase === 'running') {
        throw new HandoverBusyError(
          `the trial of release ${shortId(record.releaseId)} is under way: resume() follows it first`,
        )
      }
      this.#log.info({ releaseId: record.releaseId, by: id }, 'unrun hand-over replaced')
    }
  }

  #start(record: HandoverRecord, release: Release | undefined): Promise<HandoverOutcome> {
    const controller = new AbortController()
    const run = new HandoverRun(
      {
        store: this.#init.store,
        client: this.#init.client,
        log: this.#log,
        schedule: this.#schedule,
        now: this.#init.now,
        pollIntervalMs: this.#init.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
        pickupGraceMs: this.#init.pickupGraceMs ?? DEFAULT_PICKUP_GRACE_MS,
        signal: controller.signal,
        atStep: this.#init.atStep,
        saved: saved => this.emit('phase', saved),
        progress: (saved, progress) =>
          this.emit('progress', {
            releaseId: saved.releaseId,
            localName: saved.localName,
            progress,
          }),
        waiting: (saved, reason, opensAtMs) =>
          this.emit('waiting', { releaseId: saved.releaseId, reason, opensAtMs }),
      },
      record,
      release,
    )
    const promise = run.run().then(
      outcome => {
        const installed = outcome.result === 'installed'
        this.#log.info({ ...outcome }, installed ? 'release installed' : 'release failed here')
        this.emit(outcome.result, outcome)
        return outcome
      },
      err => {
        throw controller.signal.aborted ? controller.signal.reason : err
      },
    )
    const active: Active = { releaseId: record.releaseId, controller, promise, run }
    this.#active = active
    const clear = (): void => {
      if (this.#active === active) this.#active = undefined
    }
    promise.then(clear, clear)
    return promise
  }
}
