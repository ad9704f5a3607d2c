import { releasesToRetire, type RetentionRelease } from '../policy/index.js'
import type { AcceptedReleases } from './release-book.js'

/** Structured logger (a pino logger fits). */
export interface RetentionLogger {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

export interface RetentionResult {
  /** releases whose objects need not be kept any more */
  retired: string[]
  /** complete objects removed from the store */
  removed: string[]
  /** bytes those objects took */
  freedBytes: number
}

/**
 * Removes from the store the objects (and partials) that only retired releases
 * list: superseded, or failed and superseded (policy's `releasesToRetire`).
 * The releases' documents and records stay: they are what policy remembers
 * (highest sequence, failures). A partial still open, by a download that is
 * being cancelled, is left for the next run. A removal that fails is logged
 * and skipped.
 */
export async function removeRetiredObjects(
  releases: AcceptedReleases,
  options: { handsOver: boolean; logger?: RetentionLogger },
): Promise<RetentionResult> {
  const { logger } = options
  const sizes = new Map<string, number>()
  const known: RetentionRelease[] = []
  for (const [id, record] of releases.records()) {
    const release = releases.get(id)
    if (release === undefined) continue
    for (const object of release.objects) sizes.set(object.sha256, object.size)
    known.push({ id, ...record, objects: release.objects })
  }
  const decision = releasesToRetire(known, { handsOver: options.handsOver })

  const store = releases.store
  const removed: string[] = []
  let freedBytes = 0
  for (const sha256 of decision.objects) {
    try {
      const complete = await store.has(sha256)
      // also takes a partial of it away, unless a download has it open
      await store.remove(sha256)
      if (complete) {
        removed.push(sha256)
        freedBytes += sizes.get(sha256) ?? 0
      }
    } catch (err) {
      logger?.warn({ object: sha256, err: (err as Error).message }, 'retired object not removed')
    }
  }
  if (removed.length > 0) {
    // name only the releases this pass let go of, not every release ever retired; an object
    // removed is listed by retired releases alone
    const gone = new Set(removed)
    const releasesGone = known.filter(r => r.objects.some(object => gone.has(object.sha256)))
    logger?.info(
      {
        releases: Object.fromEntries(releasesGone.map(r => [r.id, decision.reasons[r.id]])),
        removed: removed.length,
        freedBytes,
      },
      'objects of superseded releases removed',
    )
  }
  return { retired: decision.retired, removed, freedBytes }
}
