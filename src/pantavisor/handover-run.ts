import type { HandoverSchedule } from '../policy/index.js'
import type { Release } from '../release/index.js'
import type { Store } from '../store/index.js'
import { sha256Hex } from '../util/hex.js'
import type { PvCtrlClient } from './client.js'
import { PvCtrlBadStateError, PvCtrlNoSpaceError, PvCtrlNotFoundError } from './errors.js'
import {
  HandoverIncompleteError,
  HandoverNoSpaceError,
  HandoverObjectRejectedError,
  HandoverStepLostError,
} from './handover-errors.js'
import {
  saveConclusion,
  saveRecord,
  type HandoverOutcome,
  type HandoverRecord,
} from './handover-record.js'
import type { TrialProgress } from './progress.js'
import { waitForHandoverWindow } from './schedule.js'
import { followTrial, resendRunCommand } from './trial-follow.js'
import { checkComplete, uploadMissingObjects } from './upload.js'

/** Where a hand-over can be cut short: `atStep` is called at each of these boundaries. */
export type HandoverPoint =
  | 'uploading'
  | 'object-uploaded'
  | 'objects-uploaded'
  | 'step-put'
  | 'step-stored'
  | 'command-sending'
  | 'command-sent'
  | 'trial-progress'
  | 'trial-final'

/** What the hand-over logs through; a pino logger fits. */
export interface HandoverLogger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

/** Everything one run needs, settled by the Handover that starts it. */
export interface RunContext {
  store: Store
  client: PvCtrlClient
  log: HandoverLogger
  schedule: HandoverSchedule
  now: (() => Date) | undefined
  pollIntervalMs: number
  pickupGraceMs: number
  signal: AbortSignal
  atStep: ((point: HandoverPoint, record: HandoverRecord) => void | Promise<void>) | undefined
  /** told of every record saved */
  saved(record: HandoverRecord): void
  progress(record: HandoverRecord, progress: TrialProgress): void
  waiting(record: HandoverRecord, reason: string, opensAtMs: number): void
}

// A step that vanished before its trial started is stored again, but not forever.
const MAX_STEP_RESTORES = 3

type Conclusion = Pick<HandoverOutcome, 'result' | 'status' | 'statusMsg' | 'runningRevision'>

/**
 * One release's way through the phases, from wherever its record stands to a
 * conclusion. Each phase is saved before its step is taken, and each step
 * checks what Pantavisor already has, so running it again after a kill at any
 * point repeats nothing that was done.
 */
export class HandoverRun {
  #record: HandoverRecord

  constructor(
    private readonly ctx: RunContext,
    record: HandoverRecord,
    /** needed until the step is stored; a run that only follows a trial may lack it */
    private readonly release: Release | undefined,
  ) {
    this.#record = record
  }

  get record(): HandoverRecord {
    return this.#record
  }

  async run(): Promise<HandoverOutcome> {
    const { client } = this.ctx
    for (let restores = 0; ; restores++) {
      if (this.#record.phase !== 'running') {
        const release = this.release
        if (release === undefined) throw new HandoverIncompleteError('release is not in the store')
        await this.#waitForWindow()
        const stored = await this.#storedProgress()
        if (stored !== undefined && stored.status !== 'NEW') {
          // It ran already (the record fell behind): a PUT now would reset its trail.
          await this.#save({ phase: 'running', trialSeen: true })
        } else {
          const refused = await this.#storeAndRun(release)
          if (refused !== undefined) return refused
        }
      }

      const followed = await followTrial({
        client,
        localName: this.#record.localName,
        pollIntervalMs: this.ctx.pollIntervalMs,
        pickupGraceMs: this.ctx.pickupGraceMs,
        commandSentAtMs: this.#record.commandSentAtMs ?? 0,
        signal: this.ctx.signal,
        resend: () => this.#resend(),
        onProgress: progress => this.#onProgress(progress),
      })

      const running = await client.runningRevision().catch(() => undefined)
      const { localName } = this.#record
      if (followed.kind === 'final') {
        await this.#at('trial-final')
        const { status, statusMsg } = followed.progress
        const installed = status === 'DONE' || status === 'UPDATED'
        if (installed && running !== undefined && running !== localName) {
          this.ctx.log.warn({ localName, running }, 'trial succeeded but another revision runs')
        }
        return this.#conclude({
          result: installed ? 'installed' : 'failed',
          status: status as HandoverOutcome['status'],
          statusMsg,
          runningRevision: running,
        })
      }

      // Pantavisor no longer knows the revision: its trail was removed.
      if (running === localName) {
        const statusMsg = 'progress no longer kept; the device runs it'
        return this.#conclude({
          result: 'installed',
          status: 'DONE',
          statusMsg,
          runningRevision: running,
        })
      }
      if (restores >= MAX_STEP_RESTORES) {
        throw new HandoverStepLostError(
          `Pantavisor lost ${localName} before its trial ${restores + 1} times in a row`,
        )
      }
      if (this.#record.trialSeen === true) {
        const statusMsg = `Pantavisor no longer has ${localName} after its trial began; the device runs ${running ?? 'an unknown revision'}`
        return this.#conclude({
          result: 'failed',
          status: 'ERROR',
          statusMsg,
          runningRevision: running,
        })
      }
      this.ctx.log.warn({ localName }, 'stored step vanished before its trial: storing it again')
      await this.#save({ phase: 'uploading' })
    }
  }

  /**
   * Uploads what Pantavisor lacks, stores the state and sends the run
   * command. Returns an outcome only when Pantavisor refuses the state.
   */
  async #storeAndRun(release: Release): Promise<HandoverOutcome | undefined> {
    const { store, client, signal, log } = this.ctx
    if (this.#record.phase === 'pending') {
      const previousRevision = await client.runningRevision()
      await this.#save({
        phase: 'uploading',
        ...(previousRevision === undefined ? {} : { previousRevision }),
      })
    }
    await this.#at('uploading')

    const { localName, releaseId } = this.#record
    const stateBytes = new TextEncoder().encode(release.revision.state)
    // the store may have lost an object since (fsck, quarantine) while this waited
    await checkComplete(store, release, releaseId, sha256Hex(stateBytes), client)
    try {
      const sent = await uploadMissingObjects({
        client,
        store,
        release,
        signal,
        onUploaded: () => this.#at('object-uploaded'),
      })
      log.info({ localName, ...sent }, 'objects handed to Pantavisor')
      await this.#at('objects-uploaded')
      if (!(await this.#sameStepStored(stateBytes))) {
        await client.putStep(localName, stateBytes)
        await this.#at('step-put')
      }
    } catch (err) {
      if (err instanceof PvCtrlBadStateError) {
        const statusMsg = err.pvMessage ?? err.message
        const runningRevision = this.#record.previousRevision
        return this.#conclude({ result: 'failed', status: 'REJECTED', statusMsg, runningRevision })
      }
      throw await this.#haltOn(err, stateBytes.byteLength, release)
    }

    await this.#save({ phase: 'step-stored' })
    await this.#at('step-stored')
    // Nothing may come between storing the step and running it: GC would take the unlinked objects.
    await this.#save({ phase: 'running', commandSentAtMs: Date.now() })
    await this.#at('command-sending')
    await client.runCommand(this.#record.runCommand, localName, { signal })
    // The pickup grace counts from the moment it was queued, not from before a 503 wait.
    await this.#save({ commandSentAtMs: Date.now() })
    log.info({ localName, command: this.#record.runCommand }, 'trial started')
    await this.#at('command-sent')
    return undefined
  }

  /**
   * Errors that only a new attempt can get past (no space, an object
   * Pantavisor refused) are saved on the record, so resume() leaves them be.
   */
  async #haltOn(err: unknown, stateBytes: number, release: Release): Promise<unknown> {
    let thrown = err
    if (err instanceof PvCtrlNoSpaceError) {
      const count = release.objects.length
      const evidence = '507 "Not enough disk space available"'
      thrown = new HandoverNoSpaceError('state', stateBytes, count, count, evidence, { cause: err })
    }
    if (thrown instanceof HandoverNoSpaceError || thrown instanceof HandoverObjectRejectedError) {
      const halted = { error: thrown.name, message: thrown.message, atMs: Date.now() }
      await this.#save({ halted })
    }
    return thrown
  }

  async #resend(): Promise<number> {
    await this.#save({ commandSentAtMs: Date.now() })
    const { runCommand, localName } = this.#record
    this.ctx.log.warn({ localName }, 'run command lost (progress stayed NEW): sending it again')
    const sent = await resendRunCommand({
      client: this.ctx.client,
      runCommand,
      localName,
      pollIntervalMs: this.ctx.pollIntervalMs,
      signal: this.ctx.signal,
    })
    if (sent === 'picked-up') {
      this.ctx.log.info({ localName }, 'the first run command was picked up after all')
    }
    const queuedAtMs = Date.now()
    await this.#save({ commandSentAtMs: queuedAtMs })
    return queuedAtMs
  }

  async #onProgress(progress: TrialProgress): Promise<void> {
    const trialSeen = this.#record.trialSeen === true || progress.status !== 'NEW'
    const lastProgress = { status: progress.status, statusMsg: progress.statusMsg }
    await this.#save({ trialSeen, lastProgress })
    this.ctx.progress(this.#record, progress)
    this.ctx.log.debug({ localName: this.#record.localName, ...lastProgress }, 'trial progress')
    await this.#at('trial-progress')
  }

  async #waitForWindow(): Promise<void> {
    const { schedule, signal, now } = this.ctx
    if (schedule.mode === 'now') return
    await waitForHandoverWindow(schedule, {
      signal,
      ...(now === undefined ? {} : { now }),
      onWait: timing => {
        const opensAtMs = timing.opensAtMs ?? Number.POSITIVE_INFINITY
        this.ctx.waiting(this.#record, timing.reason, opensAtMs)
        this.ctx.log.info(
          { releaseId: this.#record.releaseId, opensAtMs },
          'hand-over waits for its window',
        )
      },
    })
  }

  /** The revision's progress, or undefined when Pantavisor has no such revision. */
  async #storedProgress(): Promise<TrialProgress | undefined> {
    try {
      return await this.ctx.client.getProgress(this.#record.localName)
    } catch (err) {
      if (err instanceof PvCtrlNotFoundError) return undefined
      throw err
    }
  }

  /** True when Pantavisor already holds exactly these state bytes under the revision's name. */
  async #sameStepStored(stateBytes: Uint8Array): Promise<boolean> {
    try {
      const stored = await this.ctx.client.getStep(this.#record.localName)
      return Buffer.from(stored).equals(stateBytes)
    } catch (err) {
      if (err instanceof PvCtrlNotFoundError) return false
      throw err
    }
  }

  async #conclude(conclusion: Conclusion): Promise<HandoverOutcome> {
    const record = this.#record
    const { runningRevision, ...rest } = conclusion
    const outcome: HandoverOutcome = {
      ...rest,
      releaseId: record.releaseId,
      fleet: record.fleet,
      sequence: record.sequence,
      revisionSha256: record.revisionSha256,
      localName: record.localName,
      ...(runningRevision === undefined ? {} : { runningRevision }),
      atMs: Date.now(),
    }
    const issuedAtMs = this.release === undefined ? undefined : Date.parse(this.release.issuedAt)
    this.#record = await saveConclusion(this.ctx.store, record, outcome, issuedAtMs)
    this.ctx.saved(this.#record)
    return outcome
  }

  async #save(change: Partial<HandoverRecord>): Promise<void> {
    this.#record = await saveRecord(this.ctx.store, { ...this.#record, ...change })
    this.ctx.saved(this.#record)
  }

  async #at(point: HandoverPoint): Promise<void> {
    this.ctx.signal.throwIfAborted()
    await this.ctx.atStep?.(point, this.#record)
  }
}
