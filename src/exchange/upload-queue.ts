/** One chunk request taken in by the server and not yet given an upload slot. */
export interface QueuedUpload {
  /** which chunk: `<sha256>:<index>` */
  readonly key: string
}

/** What became of a request offered to a full queue. */
export type Admission<T extends QueuedUpload> =
  { admitted: true; displaced?: T } | { admitted: false; reason: 'busy' | 'elsewhere' }

/**
 * The chunk requests an uploader has taken in and not yet served, over every stream, and how
 * many copies of each chunk it has handed out. While there is room every request is taken. When
 * it is full, the copies decide: a request for a chunk of which fewer copies are out or promised
 * takes the place of a queued one with more, and that one (or the newcomer, when it ranks no
 * better) hears "elsewhere": a copy was handed to another peer, which serves it as soon as it
 * holds it. "busy" is left for a newcomer whose chunk has no copy out yet.
 *
 * This is what keeps a seed's link on chunks the floor does not have: every byte of a release
 * crosses the seed's one link at least once, so each duplicate it sends while some chunk has
 * not left it yet delays the whole floor by that chunk's time on the wire.
 */
export class UploadQueue<T extends QueuedUpload> {
  readonly capacity: number
  readonly #queued: T[] = []
  /** chunk key → copies handed out (given a slot) */
  readonly #handedOut = new Map<string, number>()
  /** chunk key → requests for it in the queue */
  readonly #promised = new Map<string, number>()

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`upload queue capacity: expected an integer >= 1, got ${capacity}`)
    }
    this.capacity = capacity
  }

  get size(): number {
    return this.#queued.length
  }

  /** Copies of a chunk handed out or promised to a queued request. */
  copiesOutOrPromised(key: string): number {
    return this.#copiesBesides(key, 0)
  }

  /** Copies of a chunk handed out so far: the rank of a request for it (fewer goes first). */
  handedOut(key: string): number {
    return this.#handedOut.get(key) ?? 0
  }

  /** Takes a request in, perhaps in place of a worse-ranked one, or says why not. */
  offer(request: T): Admission<T> {
    const mine = this.#copiesBesides(request.key, 0)
    if (this.#queued.length < this.capacity) {
      this.#add(request)
      return { admitted: true }
    }
    const worst = this.#worst()
    if (worst !== undefined && this.#copiesBesides(worst.key, 1) > mine) {
      this.remove(worst)
      this.#add(request)
      return { admitted: true, displaced: worst }
    }
    return { admitted: false, reason: mine > 0 ? 'elsewhere' : 'busy' }
  }

  /**
   * The request got a slot and is being served: one more copy of its chunk is out. False when it
   * was no longer queued (nothing counted).
   */
  handOut(request: T): boolean {
    if (!this.remove(request)) return false
    this.#handedOut.set(request.key, this.handedOut(request.key) + 1)
    return true
  }

  /** A copy handed out never reached its asker (cancelled, cut off): it does not count. */
  takeBack(key: string): void {
    const copies = this.handedOut(key) - 1
    if (copies > 0) this.#handedOut.set(key, copies)
    else this.#handedOut.delete(key)
  }

  /** Whether a queued request is for a chunk of which no copy is out yet. */
  hasFirstCopyWaiting(): boolean {
    return this.#queued.some(request => this.handedOut(request.key) === 0)
  }

  /** The request leaves the queue unserved (cancelled, refused, its stream gone). */
  remove(request: T): boolean {
    const at = this.#queued.indexOf(request)
    if (at < 0) return false
    this.#queued.splice(at, 1)
    const promised = (this.#promised.get(request.key) ?? 1) - 1
    if (promised === 0) this.#promised.delete(request.key)
    else this.#promised.set(request.key, promised)
    return true
  }

  #add(request: T): void {
    this.#queued.push(request)
    this.#promised.set(request.key, (this.#promised.get(request.key) ?? 0) + 1)
  }

  /** Copies of a chunk out or promised, leaving out `own` queued requests for it. */
  #copiesBesides(key: string, own: number): number {
    return this.handedOut(key) + (this.#promised.get(key) ?? 0) - own
  }

  /** The queued request with the most other copies of its chunk; the latest of equals. */
  #worst(): T | undefined {
    let worst: T | undefined
    let most = -1
    for (const request of this.#queued) {
      const copies = this.#copiesBesides(request.key, 1)
      if (copies >= most) {
        most = copies
        worst = request
      }
    }
    return worst
  }
}
