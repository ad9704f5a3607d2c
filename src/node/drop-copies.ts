import type { PvCtrlObject } from '../pantavisor/index.js'
import { objectsToDrop, type DropCopiesDecision, type DropObjectRef } from '../policy/index.js'
import type { Store } from '../store/index.js'

/** Structured logger (a pino logger fits). */
export interface DropCopiesLogger {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

export interface DropCopiesInit {
  /** the store whose copies may go */
  store: Pick<Store, 'list' | 'remove'>
  /** Pantavisor's object list: `PvCtrlClient.listObjects` or `PvObjectChunks.listObjects` */
  listPantavisorObjects: () => Promise<PvCtrlObject[]>
  /** the release that just ended DONE or UPDATED here */
  installed: { id: string; objects: readonly DropObjectRef[] }
  /** every other kept release that still needs store copies (not installed here) */
  stillNeeded: ReadonlyArray<{ id: string; objects: ReadonlyArray<{ sha256: string }> }>
  logger?: DropCopiesLogger
}

/** What was decided and what was actually removed. */
export type DropCopiesResult = DropCopiesDecision & {
  /** store copies removed (a subset of `objects` when a removal failed) */
  removed: string[]
}

/**
 * Whether store copies are dropped after an install: as configured, else on
 * exactly when pvswarm talks to a Pantavisor (a download-only device has no
 * other copy).
 */
export function resolveDropStoreCopies(
  configured: boolean | undefined,
  pvCtrlSocket: string | undefined,
): boolean {
  return configured ?? pvCtrlSocket !== undefined
}

/**
 * After an install, removes the store's copies of the release's objects that
 * Pantavisor now holds and no other kept release needs (policy's
 * `objectsToDrop`). Peers are then served those objects from Pantavisor
 * through the layered store. A removal that fails is logged and skipped:
 * keeping a copy is always safe.
 *
 * Known shortcoming: a release accepted while this runs is not in
 * `stillNeeded`, so an object it shares may be dropped just as its download
 * starts; the download then sees the object as held (through Pantavisor)
 * rather than fetching it.
 */
export async function dropStoreCopies(init: DropCopiesInit): Promise<DropCopiesResult> {
  const pantavisor = new Map((await init.listPantavisorObjects()).map(o => [o.sha256, o.size]))
  const stored = new Map((await init.store.list()).map(o => [o.sha256, o.size]))
  const decision = objectsToDrop({
    installed: init.installed,
    pantavisor,
    stored,
    stillNeeded: init.stillNeeded,
  })
  if (decision.verdict === 'keep-all') {
    init.logger?.warn(
      { releaseId: init.installed.id, missing: decision.missing.length, reason: decision.reason },
      'store copies kept',
    )
    return { ...decision, removed: [] }
  }

  const removed: string[] = []
  for (const sha256 of decision.objects) {
    try {
      await init.store.remove(sha256)
      removed.push(sha256)
    } catch (err) {
      init.logger?.warn(
        { releaseId: init.installed.id, object: sha256, err: (err as Error).message },
        'store copy not dropped',
      )
    }
  }
  init.logger?.info(
    {
      releaseId: init.installed.id,
      dropped: removed.length,
      bytes: decision.bytes,
      kept: decision.kept.length,
    },
    'store copies dropped: Pantavisor holds the release',
  )
  return { ...decision, removed }
}
