import { setTimeout as delay } from 'node:timers/promises'

/**
 * Time as the client sees it while waiting out a busy Pantavisor. Tests swap
 * it for a virtual one so a 600 s Retry-After costs nothing.
 */
export interface PvCtrlClock {
  /** milliseconds, monotonic enough to measure waits */
  now(): number
  /** resolves after `ms`; rejects with the signal's reason when aborted */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: PvCtrlClock = {
  now: () => performance.now(),
  sleep: async (ms, signal) => {
    await delay(ms, undefined, signal === undefined ? {} : { signal })
  },
}
