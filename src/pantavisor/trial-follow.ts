import { setTimeout as delay } from 'node:timers/promises'
import type { PvCtrlClient } from './client.js'
import { PvCtrlNotFoundError, PvCtrlTimeoutError, PvCtrlUnavailableError } from './errors.js'
import type { RunCommand } from './handover-record.js'
import { FINAL_STATUSES, type TrialProgress } from './progress.js'

export interface FollowInit {
  client: PvCtrlClient
  /** the local revision whose trial is followed */
  localName: string
  pollIntervalMs: number
  /** how long a sent command may leave progress at NEW before it counts as lost */
  pickupGraceMs: number
  /** wall-clock time the run command was last (about to be) sent */
  commandSentAtMs: number
  signal: AbortSignal
  /** sends the run command again; resolves with the new send time once it is queued */
  resend(): Promise<number>
  /** told of every progress read that differs from the one before */
  onProgress(progress: TrialProgress): Promise<void>
}

/** How following ended: a final status, or the revision is unknown to Pantavisor. */
export type FollowResult = { kind: 'final'; progress: TrialProgress } | { kind: 'gone' }

/**
 * Reads a revision's progress until it is final. pv-ctrl has no way to push
 * progress, so reading at an interval is the only way to learn it.
 *
 * While the device reboots (the trial's own reboot) pv-ctrl is unreachable
 * and reading simply goes on. A command queued just before a power cut is
 * lost and leaves progress at NEW for good: once NEW has outlasted
 * `pickupGraceMs` since the command was sent, the command is sent again.
 */
export async function followTrial(init: FollowInit): Promise<FollowResult> {
  const { client, localName, signal } = init
  let sentAtMs = init.commandSentAtMs
  let last: string | undefined

  for (;;) {
    signal.throwIfAborted()
    let progress: TrialProgress | undefined
    try {
      progress = await client.getProgress(localName)
    } catch (err) {
      if (err instanceof PvCtrlNotFoundError) return { kind: 'gone' }
      if (!(err instanceof PvCtrlUnavailableError || err instanceof PvCtrlTimeoutError)) throw err
    }

    let waitMs = init.pollIntervalMs
    if (progress !== undefined) {
      const seen = `${progress.status}\n${progress.statusMsg}`
      if (seen !== last) await init.onProgress(progress)
      last = seen
      if (FINAL_STATUSES.has(progress.status)) return { kind: 'final', progress }

      if (progress.status === 'NEW') {
        const leftMs = sentAtMs + init.pickupGraceMs - Date.now()
        if (leftMs <= 0) {
          sentAtMs = await resendUnlessDown(init, sentAtMs)
        } else {
          waitMs = Math.min(waitMs, leftMs)
        }
      }
    }
    await delay(waitMs, undefined, { signal })
  }
}

/** A resend that meets a rebooting device is tried again at the next read. */
async function resendUnlessDown(init: FollowInit, sentAtMs: number): Promise<number> {
  try {
    return await init.resend()
  } catch (err) {
    if (err instanceof PvCtrlUnavailableError || err instanceof PvCtrlTimeoutError) return sentAtMs
    throw err
  }
}

export interface ResendInit {
  client: PvCtrlClient
  runCommand: RunCommand
  localName: string
  pollIntervalMs: number
  signal: AbortSignal
}

/**
 * Sends the run command again after it seemed lost. A 503 means nothing was
 * queued, and the client waits as long as Retry-After asks; meanwhile the
 * revision's progress is still read, and if the first command turns out to
 * have been picked up after all, the resend is abandoned rather than run the
 * revision a second time.
 *
 * @returns 'queued', or 'picked-up' when the first command showed up running
 */
export async function resendRunCommand(init: ResendInit): Promise<'queued' | 'picked-up'> {
  const picked = new AbortController()
  const finished = new AbortController()
  const watching = untilTrialShows(init, AbortSignal.any([init.signal, finished.signal])).then(
    () => picked.abort(),
    () => undefined,
  )
  try {
    await init.client.runCommand(init.runCommand, init.localName, {
      signal: AbortSignal.any([init.signal, picked.signal]),
    })
    return 'queued'
  } catch (err) {
    if (picked.signal.aborted && !init.signal.aborted) return 'picked-up'
    throw err
  } finally {
    finished.abort()
    await watching
  }
}

/** Resolves once the revision's progress is past NEW, or the revision is gone. */
async function untilTrialShows(init: ResendInit, signal: AbortSignal): Promise<void> {
  for (;;) {
    await delay(init.pollIntervalMs, undefined, { signal })
    try {
      if ((await init.client.getProgress(init.localName)).status !== 'NEW') return
    } catch (err) {
      if (err instanceof PvCtrlNotFoundError) return
      // unreachable or slow: keep reading
    }
  }
}
