import type { PvCtrlClock } from './clock.js'
import { PvCtrlBusyError } from './errors.js'
import { readBody, type PvCtrlCall, type PvCtrlResponse } from './http.js'
import { errorText, expectOk, retryAfterMs } from './status.js'

export interface BusyRetryInit {
  clock: PvCtrlClock
  /** total waiting allowed across all retries */
  maxBusyWaitMs: number
  signal?: AbortSignal
  /** names the request in errors, e.g. `LOCAL_RUN locals/x` */
  what: string
}

/**
 * Sends a request again and again while pv-ctrl answers 503, waiting each
 * time as long as Retry-After asks (less when the budget runs short).
 * A 503 means nothing was queued, so sending again is safe.
 *
 * @throws PvCtrlBusyError when the budget is spent or the wait is aborted
 */
export async function retryWhileBusy(
  send: () => Promise<{ response: PvCtrlResponse; call: PvCtrlCall }>,
  init: BusyRetryInit,
): Promise<void> {
  const { clock, maxBusyWaitMs, signal } = init
  const started = clock.now()

  for (;;) {
    const { response, call } = await send()
    if (response.status !== 503) {
      await expectOk(response, call)
      return
    }

    const waitMs = retryAfterMs(response.res.headers['retry-after'])
    let pvMessage = '(unread)'
    const busy = (why: string, cause?: unknown): PvCtrlBusyError =>
      new PvCtrlBusyError(
        `pv-ctrl refused ${init.what}: "${pvMessage}" (503, Retry-After ${waitMs / 1000} s); ${why}`,
        waitMs,
        { status: 503, pvMessage },
        cause === undefined ? undefined : { cause },
      )
    try {
      pvMessage = errorText(await readBody(response, call))
    } catch (err) {
      if (signal?.aborted === true) throw busy('aborted while waiting', signal.reason)
      throw err
    }
    const waitedMs = Math.round(clock.now() - started)
    const leftMs = maxBusyWaitMs - waitedMs

    if (leftMs <= 0) {
      throw busy(`gave up after waiting ${waitedMs} ms of at most ${maxBusyWaitMs} ms`)
    }
    try {
      await clock.sleep(Math.min(waitMs, leftMs), signal)
    } catch (err) {
      if (signal?.aborted === true) throw busy('aborted while waiting', signal.reason)
      throw err
    }
  }
}
