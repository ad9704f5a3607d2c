import { setTimeout as delay } from 'node:timers/promises'
import { handoverAllowed, type HandoverSchedule, type HandoverTiming } from '../policy/index.js'

export interface WindowWaitOptions {
  /** stops the wait: the promise rejects with the signal's reason */
  signal?: AbortSignal
  /** the wall clock. @default () => new Date() */
  now?: () => Date
  /**
   * Longest single timer. A device without a battery-backed clock jumps by
   * years when NTP first answers; re-reading the clock at least this often
   * keeps such a jump from delaying the hand-over by up to a day.
   * @default 900000 (15 min)
   */
  maxTimerMs?: number
  /** told every time the wait (re)starts, with why and until when */
  onWait?: (timing: HandoverTiming & { allowed: false }) => void
}

const DEFAULT_MAX_TIMER_MS = 15 * 60_000

/**
 * Resolves as soon as `schedule` allows a hand-over: at once when it already
 * does, else by a timer set to the moment the window opens.
 *
 * @throws RangeError for the `never` schedule, which has no window to wait for
 */
export async function waitForHandoverWindow(
  schedule: HandoverSchedule,
  options: WindowWaitOptions = {},
): Promise<void> {
  const now = options.now ?? (() => new Date())
  const maxTimerMs = options.maxTimerMs ?? DEFAULT_MAX_TIMER_MS
  for (;;) {
    options.signal?.throwIfAborted()
    const at = now()
    const timing = handoverAllowed(schedule, at)
    if (timing.allowed) return
    if (timing.opensAtMs === undefined) {
      throw new RangeError(`no hand-over window to wait for: ${timing.reason}`)
    }
    options.onWait?.(timing)
    const waitMs = Math.min(Math.max(0, timing.opensAtMs - at.getTime()), maxTimerMs)
    const { signal } = options
    try {
      await delay(waitMs, undefined, signal === undefined ? {} : { signal })
    } catch (err) {
      throw signal?.aborted === true ? signal.reason : err
    }
  }
}
