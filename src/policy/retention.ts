/**
 * Which accepted releases a device no longer needs to keep objects for: on a
 * device updated release after release for years, every superseded or failed
 * release would otherwise stay in the store for good.
 */

/** Where a device is with an accepted release (the release book's phases). */
export type RetentionPhase = 'downloading' | 'complete' | 'installed' | 'failed'

/** An accepted release, as retention sees it. */
export interface RetentionRelease {
  id: string
  fleet: string
  sequence: number
  phase: RetentionPhase
  objects: ReadonlyArray<{ sha256: string }>
}

export interface RetentionOptions {
  /**
   * Whether this device hands complete releases over to Pantavisor. A device
   * that only downloads and serves has nothing to wait for once a release of
   * its fleet is newer. @default true
   */
  handsOver?: boolean
}

export interface RetentionDecision {
  /** releases whose objects need not be kept, sorted */
  retired: string[]
  /** objects only retired releases list, sorted: the store may let them go */
  objects: string[]
  /** per retired release, why it goes */
  reasons: Record<string, string>
}

/**
 * In each fleet a device keeps the newest release (it is the one being
 * fetched, handed over or passed on to peers) and the newest it installed
 * (Pantavisor runs it, or fell back to it after a later trial failed). Every
 * other release of the fleet is retired, with one wait: a release that is
 * complete but not settled may still be in its hand-over, uploading its
 * objects to Pantavisor, so it is retired only once a newer release of its
 * fleet has settled (installed or failed), which happens after that hand-over.
 * A device that does not hand over does not wait.
 *
 * An object that a kept release also lists is never among `objects`.
 */
export function releasesToRetire(
  releases: readonly RetentionRelease[],
  options: RetentionOptions = {},
): RetentionDecision {
  const handsOver = options.handsOver ?? true
  const byFleet = new Map<string, RetentionRelease[]>()
  for (const release of releases) {
    const fleet = byFleet.get(release.fleet) ?? []
    fleet.push(release)
    byFleet.set(release.fleet, fleet)
  }

  const reasons: Record<string, string> = {}
  for (const [fleet, fleetReleases] of byFleet) {
    const newest = highest(fleetReleases)
    const installed = highest(fleetReleases.filter(r => r.phase === 'installed'))
    const settled = highest(
      fleetReleases.filter(r => r.phase === 'installed' || r.phase === 'failed'),
    )
    for (const release of fleetReleases) {
      if (release === newest || release === installed) continue
      if (
        handsOver &&
        release.phase === 'complete' &&
        !(settled !== undefined && settled.sequence > release.sequence)
      ) {
        continue
      }
      reasons[release.id] =
        `fleet ${fleet} sequence ${release.sequence} (${release.phase}): superseded by sequence ` +
        `${newest!.sequence}` +
        (installed === undefined ? '' : `, installed here is sequence ${installed.sequence}`)
    }
  }

  const kept = new Set<string>()
  const retiredObjects = new Set<string>()
  for (const release of releases) {
    const target = reasons[release.id] === undefined ? kept : retiredObjects
    for (const object of release.objects) target.add(object.sha256)
  }
  return {
    retired: Object.keys(reasons).sort(),
    objects: [...retiredObjects].filter(sha256 => !kept.has(sha256)).sort(),
    reasons,
  }
}

/** The release of highest sequence, or undefined for none. */
function highest(releases: readonly RetentionRelease[]): RetentionRelease | undefined {
  let best: RetentionRelease | undefined
  for (const release of releases) {
    if (best === undefined || release.sequence > best.sequence) best = release
  }
  return best
}
