import type { EventEmitter } from 'node:events'
import type { FloorRow } from '../../src/node/floor.js'
import type { RunningDevice } from '../../src/node/daemon.js'

/** Fast floor timing for tests: pushes every 50 ms. */
export const FAST_FLOOR = { floor: { floorPushIntervalMs: 50 } }

/**
 * Resolves once `check()` is true, re-checking on each `event` of `emitter`; rejects with
 * `what` after `timeoutMs` so a broken protocol fails the test instead of hanging it.
 */
export function until(
  emitter: Pick<EventEmitter, 'on' | 'off'>,
  event: string,
  check: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      emitter.off(event, test)
    }
    const test = (): void => {
      if (!check()) return
      done()
      resolve()
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`timed out waiting for ${what}`))
    }, timeoutMs)
    test()
    emitter.on(event, test)
  })
}

/** The row a device's floor view has for another device. */
export function rowOf(viewer: RunningDevice, of: RunningDevice): FloorRow | undefined {
  const peer = of.device.peerId.toString()
  return viewer.views.floor.rows().find(row => row.peer === peer)
}

/** Resolves when `viewer`'s floor satisfies `check` for `of`. */
export function floorShows(
  viewer: RunningDevice,
  of: RunningDevice,
  check: (row: FloorRow) => boolean,
  what: string,
): Promise<void> {
  return until(
    viewer.views.floor,
    'changed',
    () => {
      const row = rowOf(viewer, of)
      return row !== undefined && check(row)
    },
    what,
  )
}
