import { z } from 'zod'
import type { DeviceState, Store } from '../store/index.js'
import { HandoverRecordError } from './handover-errors.js'

/** Key of the hand-over's document in the store's device state (`rooms`). */
export const HANDOVER_ROOM = 'handover'

/**
 * Where a hand-over stands, persisted before each step so a restart knows
 * what was done:
 * - `pending`: accepted for hand-over, waiting for the schedule's window
 * - `uploading`: sending missing objects, then the state (`PUT /steps`)
 * - `step-stored`: Pantavisor holds every object and the state
 * - `running`: the run command is about to be sent, or was sent
 * - `concluded`: the trial ended; `outcome` says how
 */
export type HandoverPhase = 'pending' | 'uploading' | 'step-stored' | 'running' | 'concluded'

/** Pantavisor's command that starts a trial. */
export type RunCommand = 'LOCAL_RUN' | 'LOCAL_RUN_COMMIT'

/** How a hand-over ended. */
export interface HandoverOutcome {
  /** installed: the revision runs (DONE, UPDATED); failed: refused or rolled back */
  result: 'installed' | 'failed'
  releaseId: string
  fleet: string
  sequence: number
  /** sha256 of the revision's state */
  revisionSha256: string
  /** the local revision on the device, `locals/…` */
  localName: string
  /** Pantavisor's final status; REJECTED when it refused the state itself (422 on PUT /steps) */
  status: 'DONE' | 'UPDATED' | 'ERROR' | 'WONTGO' | 'REJECTED'
  /** Pantavisor's status-msg (or error text for REJECTED) */
  statusMsg: string
  /** `pantavisor.revision` when the outcome was read, if pv-ctrl answered */
  runningRevision?: string
  atMs: number
}

/** The persisted hand-over (one at a time per device). */
export interface HandoverRecord {
  version: 1
  releaseId: string
  fleet: string
  sequence: number
  revisionSha256: string
  localName: string
  runCommand: RunCommand
  phase: HandoverPhase
  /** `pantavisor.revision` when uploading began: where a failed trial returns to */
  previousRevision?: string
  /** wall-clock time the run command was last about to be sent */
  commandSentAtMs?: number
  /** progress was seen past NEW: the trial started */
  trialSeen?: boolean
  /** the last progress read */
  lastProgress?: { status: string; statusMsg: string }
  /** an error that needs an explicit new attempt (no space, bad object): resume() leaves it alone */
  halted?: { error: string; message: string; atMs: number }
  startedAtMs: number
  updatedAtMs: number
  outcome?: HandoverOutcome
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const count = z.number().int().nonnegative()
const time = z.number().nonnegative()

const outcomeSchema = z.object({
  result: z.enum(['installed', 'failed']),
  releaseId: hex64,
  fleet: z.string(),
  sequence: count,
  revisionSha256: hex64,
  localName: z.string(),
  status: z.enum(['DONE', 'UPDATED', 'ERROR', 'WONTGO', 'REJECTED']),
  statusMsg: z.string(),
  runningRevision: z.string().optional(),
  atMs: time,
})

const recordSchema = z.object({
  version: z.literal(1),
  releaseId: hex64,
  fleet: z.string(),
  sequence: count,
  revisionSha256: hex64,
  localName: z.string(),
  runCommand: z.enum(['LOCAL_RUN', 'LOCAL_RUN_COMMIT']),
  phase: z.enum(['pending', 'uploading', 'step-stored', 'running', 'concluded']),
  previousRevision: z.string().optional(),
  commandSentAtMs: time.optional(),
  trialSeen: z.boolean().optional(),
  lastProgress: z.object({ status: z.string(), statusMsg: z.string() }).optional(),
  halted: z.object({ error: z.string(), message: z.string(), atMs: time }).optional(),
  startedAtMs: time,
  updatedAtMs: time,
  outcome: outcomeSchema.optional(),
})

/** The record inside a device state, checked; undefined when there is none. */
export function recordOf(state: DeviceState): HandoverRecord | undefined {
  const value = state.rooms[HANDOVER_ROOM]
  if (value === undefined) return undefined
  const checked = recordSchema.safeParse(value)
  if (!checked.success) {
    const issue = checked.error.issues[0]
    throw new HandoverRecordError(
      `device state rooms.${HANDOVER_ROOM} is not a hand-over record: ` +
        `${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    )
  }
  return checked.data as HandoverRecord
}

export async function readRecord(store: Store): Promise<HandoverRecord | undefined> {
  return recordOf(await store.readDeviceState())
}

/** Saves `record` (stamped with the time) and returns what was saved. */
export async function saveRecord(store: Store, record: HandoverRecord): Promise<HandoverRecord> {
  const saved = { ...record, updatedAtMs: Date.now() }
  await store.updateDeviceState(state => {
    state.rooms[HANDOVER_ROOM] = saved
  })
  return saved
}

/**
 * In one save: the record concluded, and the device's history updated —
 * installed for the fleet, or failed (so policy never accepts it again).
 */
export async function saveConclusion(
  store: Store,
  record: HandoverRecord,
  outcome: HandoverOutcome,
  issuedAtMs: number | undefined,
): Promise<HandoverRecord> {
  const { halted: _dropped, ...rest } = record
  const saved: HandoverRecord = { ...rest, phase: 'concluded', outcome, updatedAtMs: outcome.atMs }
  await store.updateDeviceState(state => {
    state.rooms[HANDOVER_ROOM] = saved
    if (outcome.result === 'installed') {
      const fleet = (state.fleets[record.fleet] ??= {
        highestSequence: record.sequence,
        newestIssuedAtMs: issuedAtMs ?? 0,
      })
      fleet.installedReleaseId = record.releaseId
      fleet.installedSequence = record.sequence
    } else {
      state.failedReleases[record.releaseId] = {
        fleet: record.fleet,
        sequence: record.sequence,
        reason: `${outcome.status}: ${outcome.statusMsg}`,
        atMs: outcome.atMs,
        revisionSha256: record.revisionSha256,
      }
    }
  })
  return saved
}
