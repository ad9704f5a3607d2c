import { Fleet } from './fleet.js'
import {
  DEFAULT_LINK_MBIT,
  type FleetInit,
  type FleetMode,
  type SequenceResult,
} from './fleet-types.js'

/** A whole run: a floor, one release after another, a result per release. */
export interface FleetRunResult {
  mode: FleetMode
  devices: number
  linkMbit: number | undefined
  meshSeconds: number
  meshComplete: boolean
  sequences: SequenceResult[]
  /** every device ended every sequence DONE or UPDATED */
  allDone: boolean
  /** the sequences' floor times, added up */
  seconds: number
}

/**
 * Starts a floor, publishes each revision in turn (the next one only once the
 * one before has settled everywhere; a timeout ends the run) and closes the
 * floor, whatever happens.
 */
export async function runFleet(
  init: FleetInit,
  revisionPaths: readonly string[],
  hooks: { onStart?: (fleet: Fleet) => void; onSequence?: (result: SequenceResult) => void } = {},
): Promise<FleetRunResult> {
  if (revisionPaths.length === 0) throw new RangeError('expected at least one revision to publish')
  const fleet = await Fleet.start(init)
  try {
    hooks.onStart?.(fleet)
    const sequences: SequenceResult[] = []
    for (const path of revisionPaths) {
      const result = await fleet.publish(path)
      sequences.push(result)
      hooks.onSequence?.(result)
      if (result.timedOut) break
    }
    return {
      mode: fleet.init.mode,
      devices: fleet.init.devices,
      linkMbit:
        fleet.init.mode === 'netns' ? (fleet.init.linkMbit ?? DEFAULT_LINK_MBIT) : undefined,
      meshSeconds: fleet.meshSeconds,
      meshComplete: fleet.meshComplete,
      sequences,
      allDone: sequences.length === revisionPaths.length && sequences.every(s => s.allDone),
      seconds: sequences.reduce((total, s) => total + s.seconds, 0),
    }
  } finally {
    await fleet.close()
  }
}
