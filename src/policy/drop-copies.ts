/**
 * Which store copies a device may give up once Pantavisor holds a release it
 * installed ("no second copy"): an embedded device should not keep every
 * object twice, once in pvswarm's store and once in /storage/objects.
 */

/** An object as a release lists it. */
export interface DropObjectRef {
  sha256: string
  size: number
}

export interface DropCopiesInput {
  /** The release that just ended DONE or UPDATED on this device. */
  installed: { id: string; objects: readonly DropObjectRef[] }
  /** What Pantavisor lists (`GET /objects`): object id → size in bytes. */
  pantavisor: ReadonlyMap<string, number>
  /** Complete objects in the store: object id → size in bytes. */
  stored: ReadonlyMap<string, number>
  /**
   * Every other release the device keeps that still needs store copies: one
   * downloading, complete but not handed over, or not installed here.
   */
  stillNeeded: ReadonlyArray<{ id: string; objects: ReadonlyArray<{ sha256: string }> }>
}

export type DropCopiesDecision =
  | {
      verdict: 'drop'
      /** store copies to remove, sorted */
      objects: string[]
      /** bytes they take in the store */
      bytes: number
      /** store copies of the installed release kept because another release needs them */
      kept: Array<{ sha256: string; neededBy: string }>
      reason: string
    }
  | {
      verdict: 'keep-all'
      /** objects Pantavisor does not list at the size the release gives */
      missing: Array<{ sha256: string; expectedSize: number; pantavisorSize: number | undefined }>
      reason: string
    }

/**
 * Decides which store copies of an installed release's objects may go: all of
 * them that the store holds, once Pantavisor lists every object of the
 * release at its exact size, except those another kept release still needs.
 * If Pantavisor lacks anything (an object cut short, or deleted by its GC),
 * nothing goes: the store copy may be the only whole one.
 */
export function objectsToDrop(input: DropCopiesInput): DropCopiesDecision {
  const { installed, pantavisor, stored } = input
  const missing = installed.objects
    .filter(object => pantavisor.get(object.sha256) !== object.size)
    .map(object => ({
      sha256: object.sha256,
      expectedSize: object.size,
      pantavisorSize: pantavisor.get(object.sha256),
    }))
  if (missing.length > 0) {
    const first = missing[0]!
    const found =
      first.pantavisorSize === undefined
        ? 'not listed'
        : `listed with ${first.pantavisorSize} bytes`
    return {
      verdict: 'keep-all',
      missing,
      reason:
        `release ${installed.id}: Pantavisor lacks ${missing.length} of ${installed.objects.length} ` +
        `objects (${first.sha256}: expected ${first.expectedSize} bytes, ${found}); keeping every store copy`,
    }
  }

  const neededBy = new Map<string, string>()
  for (const release of input.stillNeeded) {
    if (release.id === installed.id) continue
    for (const object of release.objects) {
      if (!neededBy.has(object.sha256)) neededBy.set(object.sha256, release.id)
    }
  }

  const drop = new Set<string>()
  const kept = new Map<string, string>()
  for (const object of installed.objects) {
    if (!stored.has(object.sha256)) continue
    const other = neededBy.get(object.sha256)
    if (other !== undefined) kept.set(object.sha256, other)
    else drop.add(object.sha256)
  }
  const objects = [...drop].sort()
  const bytes = objects.reduce((sum, sha256) => sum + (stored.get(sha256) ?? 0), 0)
  const keptList = [...kept].map(([sha256, by]) => ({ sha256, neededBy: by }))
  const keptText = keptList.length > 0 ? `, keeping ${keptList.length} another release needs` : ''
  return {
    verdict: 'drop',
    objects,
    bytes,
    kept: keptList,
    reason:
      `release ${installed.id}: Pantavisor holds all ${installed.objects.length} objects; ` +
      `dropping ${objects.length} store copies (${bytes} bytes)${keptText}`,
  }
}
