import { DEFAULTS } from './constants.js'
import type { DownloadOptions } from './download-types.js'

/** Options with every default filled in; a value that cannot work is a RangeError. */
export function downloadOptions(given: DownloadOptions): Required<DownloadOptions> {
  const set = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined))
  const options: Required<DownloadOptions> = { ...DEFAULTS, random: Math.random, ...set }
  for (const name of ['maxInFlightPerPeer', 'maxInFlightTotal', 'maxRequestsPerChunk'] as const) {
    if (!Number.isInteger(options[name]) || options[name] < 1) {
      throw new RangeError(`${name}: expected an integer >= 1, got ${options[name]}`)
    }
  }
  for (const name of [
    'timeoutFloorMs',
    'timeoutFactor',
    'initialRateBytesPerSecond',
    'maxInFlightBytes',
    'maxConsecutiveTimeouts',
    'noSourceTimeoutMs',
  ] as const) {
    if (!(options[name] > 0)) throw new RangeError(`${name}: expected > 0, got ${options[name]}`)
  }
  return options
}
