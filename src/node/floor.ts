import { EventEmitter } from 'node:events'
import type { FloorEntry } from '../exchange/index.js'

/** One device as this device knows it, for the API and the fleet page. */
export interface FloorRow extends FloorEntry {
  /** this device's own row */
  self: boolean
  /** since this device last heard news from (or about) that device, on its own clock */
  lastSeenAgeMs: number
}

export interface FloorViewOptions {
  /** this device's peer id: relayed entries about it are ignored, it knows itself best */
  selfPeer: string
  /** An entry not refreshed (no newer version heard) for this long is dropped. @default 60000 */
  expireMs?: number
  /** Expired devices remembered, so an old copy relayed later does not bring one back. @default 4096 */
  rememberedExpired?: number
  /**
   * How far ahead of this device's clock an origin timestamp may be. A later one is cut down to
   * now + this, so a forged or badly skewed clock holds an entry still for at most this long.
   * @default 300000
   */
  maxFutureSkewMs?: number
  /** @default Date.now */
  now?: () => number
}

interface Known {
  entry: FloorEntry
  /** local time this version arrived: ages and expiry use it, so other clocks do not matter */
  heardAtMs: number
}

/**
 * The floor as this device knows it: its own entry and the newest entry heard of every other
 * device, directly or relayed. Newest (by the origin's timestamp) wins; entries expire when no
 * newer version arrives in time.
 */
export class FloorView extends EventEmitter<{ changed: [] }> {
  readonly #selfPeer: string
  readonly #expireMs: number
  readonly #remembered: number
  readonly #maxFutureSkewMs: number
  readonly #now: () => number
  readonly #known = new Map<string, Known>()
  readonly #changed = new Set<string>()
  /** peer → updatedAtMs of the version that expired */
  readonly #expired = new Map<string, number>()

  constructor(options: FloorViewOptions) {
    super()
    this.#selfPeer = options.selfPeer
    this.#expireMs = options.expireMs ?? 60_000
    this.#remembered = options.rememberedExpired ?? 4096
    this.#maxFutureSkewMs = options.maxFutureSkewMs ?? 300_000
    this.#now = options.now ?? Date.now
  }

  /** Replaces this device's own entry; returns false when nothing but the timestamp differs. */
  setSelf(entry: Omit<FloorEntry, 'peer' | 'updatedAtMs'>, force = false): boolean {
    const previous = this.#known.get(this.#selfPeer)?.entry
    const next: FloorEntry = { ...entry, peer: this.#selfPeer, updatedAtMs: this.#now() }
    if (!force && previous !== undefined && sameStatus(previous, next)) return false
    // strictly newer than the last, even within one millisecond
    if (previous !== undefined && next.updatedAtMs <= previous.updatedAtMs) {
      next.updatedAtMs = previous.updatedAtMs + 1
    }
    this.#store(next)
    return true
  }

  /** Takes in entries a peer sent; returns how many were news. */
  merge(entries: readonly FloorEntry[]): number {
    this.#expire()
    let news = 0
    const latestMs = this.#now() + this.#maxFutureSkewMs
    for (const received of entries) {
      if (received.peer === this.#selfPeer) continue
      // Without the cap, one entry stamped far ahead would outrank every genuine update to come.
      // A device whose clock runs further ahead still shows, its updates accepted as our clock
      // moves on; the cost is that after a capped entry, updates are held back up to the skew.
      const entry =
        received.updatedAtMs > latestMs ? { ...received, updatedAtMs: latestMs } : received
      const known = this.#known.get(entry.peer)
      const floorMs = known?.entry.updatedAtMs ?? this.#expired.get(entry.peer) ?? -1
      if (entry.updatedAtMs <= floorMs) continue
      this.#expired.delete(entry.peer)
      this.#store(entry, false)
      news++
    }
    if (news > 0) this.emit('changed')
    return news
  }

  /** Every device known, sorted by name (this device included). */
  rows(): FloorRow[] {
    this.#expire()
    const now = this.#now()
    return [...this.#known.values()]
      .map(({ entry, heardAtMs }) => ({
        ...entry,
        self: entry.peer === this.#selfPeer,
        lastSeenAgeMs: entry.peer === this.#selfPeer ? 0 : Math.max(0, now - heardAtMs),
      }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.peer.localeCompare(b.peer))
  }

  /** What gossip sends: every fresh entry, or only those changed since the last call. */
  entries(scope: 'all' | 'changed'): FloorEntry[] {
    this.#expire()
    if (scope === 'all') return [...this.#known.values()].map(known => known.entry)
    const changed = [...this.#changed].flatMap(peer => {
      const known = this.#known.get(peer)
      return known === undefined ? [] : [known.entry]
    })
    this.#changed.clear()
    return changed
  }

  /** The entry known for one peer, if fresh. */
  entry(peer: string): FloorEntry | undefined {
    return this.#known.get(peer)?.entry
  }

  get size(): number {
    return this.#known.size
  }

  #store(entry: FloorEntry, emit = true): void {
    this.#known.set(entry.peer, { entry, heardAtMs: this.#now() })
    this.#changed.add(entry.peer)
    if (emit) this.emit('changed')
  }

  #expire(): void {
    const limit = this.#now() - this.#expireMs
    for (const [peer, known] of this.#known) {
      if (peer === this.#selfPeer || known.heardAtMs >= limit) continue
      this.#known.delete(peer)
      this.#changed.delete(peer)
      this.#expired.set(peer, known.entry.updatedAtMs)
    }
    while (this.#expired.size > this.#remembered) {
      const oldest = this.#expired.keys().next().value
      if (oldest === undefined) break
      this.#expired.delete(oldest)
    }
  }
}

function sameStatus(a: FloorEntry, b: FloorEntry): boolean {
  return JSON.stringify({ ...a, updatedAtMs: 0 }) === JSON.stringify({ ...b, updatedAtMs: 0 })
}
