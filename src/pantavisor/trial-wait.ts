import type { PvCtrlClock } from './clock.js'
import { PvCtrlTimeoutError, PvCtrlUnavailableError } from './errors.js'
import { FINAL_STATUSES, type TrialProgress } from './progress.js'

export interface WaitForTrialOptions {
  /** pause between progress reads. @default 2000 */
  intervalMs?: number
  signal?: AbortSignal
  /** called with every progress read that differs from the one before */
  onProgress?: (progress: TrialProgress) => void
}

export const DEFAULT_POLL_INTERVAL_MS = 2_000

/**
 * Reads progress until it is final. A trial may reboot the device: while
 * pv-ctrl is unreachable or silent, reading simply goes on.
 */
export async function pollTrialOutcome(
  read: () => Promise<TrialProgress>,
  clock: PvCtrlClock,
  options: WaitForTrialOptions,
  signal: AbortSignal | undefined,
): Promise<TrialProgress> {
  const intervalMs = options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS
  let last: string | undefined

  for (;;) {
    try {
      const progress = await read()
      const seen = JSON.stringify(progress)
      if (seen !== last) options.onProgress?.(progress)
      last = seen
      if (FINAL_STATUSES.has(progress.status)) return progress
    } catch (err) {
      if (!(err instanceof PvCtrlUnavailableError || err instanceof PvCtrlTimeoutError)) throw err
    }
    await clock.sleep(intervalMs, signal)
  }
}
