import { chunkCount, chunkLength } from '../release/index.js'
import type { DownloadPeer } from './download-peer.js'
import type { PartialObject, ReleaseContent } from './types.js'

/** A chunk another peer is fetching ranks almost as if that peer held it… */
const PENDING_WEIGHT = 0.75
/** …and the random tie-break never outweighs that. */
const TIE_BREAK_WEIGHT = 0.25

export const enum ChunkState {
  Wanted = 0,
  Requested = 1,
  Writing = 2,
  Held = 3,
}

export interface TableObject {
  sha256: string
  size: number
  chunks: readonly string[]
  chunkCount: number
  /** global index of its chunk 0 */
  offset: number
  partial: PartialObject | undefined
  heldChunks: number
}

/**
 * Every chunk of a release under one global index (object by object, in release order): its
 * state, how many usable peers hold it, and which chunks are wanted and not yet asked for.
 */
export class ChunkTable {
  readonly objects: TableObject[]
  readonly total: number
  readonly bytesTotal: number
  readonly wanted = new Set<number>()
  chunksDone = 0
  bytesDone = 0
  readonly #objectOf: Uint32Array
  readonly #state: Uint8Array
  readonly #availability: Uint32Array
  /** until when (performance.now() time) some other peer is known to be fetching each chunk */
  readonly #pendingUntil: Float64Array

  constructor(readonly release: ReleaseContent) {
    let offset = 0
    let bytesTotal = 0
    this.objects = release.objects.map(object => {
      const count = chunkCount(object.size, release.chunkBytes)
      const entry = { ...object, chunkCount: count, offset, partial: undefined, heldChunks: 0 }
      offset += count
      bytesTotal += object.size
      return entry
    })
    this.total = offset
    this.bytesTotal = bytesTotal
    this.#objectOf = new Uint32Array(offset)
    this.objects.forEach((object, index) => {
      this.#objectOf.fill(index, object.offset, object.offset + object.chunkCount)
    })
    this.#state = new Uint8Array(offset)
    this.#availability = new Uint32Array(offset)
    this.#pendingUntil = new Float64Array(offset)
  }

  /** Another peer said it is fetching a chunk: rank it as nearly held until `until`. */
  notePending(chunk: number, until: number): void {
    if (this.#pendingUntil[chunk]! < until) this.#pendingUntil[chunk] = until
  }

  objectIndexOf(chunk: number): number {
    return this.#objectOf[chunk]!
  }

  /** The object of a global chunk index, the chunk's index in it, and its length. */
  locate(chunk: number): { object: TableObject; chunkIndex: number; bytes: number } {
    const object = this.objects[this.#objectOf[chunk]!]!
    const chunkIndex = chunk - object.offset
    const bytes = chunkLength(object.size, this.release.chunkBytes, chunkIndex)
    return { object, chunkIndex, bytes }
  }

  state(chunk: number): ChunkState {
    return this.#state[chunk] as ChunkState
  }

  setState(chunk: number, state: ChunkState.Requested | ChunkState.Writing): void {
    this.#state[chunk] = state
    this.wanted.delete(chunk)
  }

  want(chunk: number): void {
    this.#state[chunk] = ChunkState.Wanted
    this.wanted.add(chunk)
  }

  markHeld(object: TableObject, chunkIndex: number): void {
    const chunk = object.offset + chunkIndex
    this.#state[chunk] = ChunkState.Held
    this.wanted.delete(chunk)
    object.heldChunks++
    this.chunksDone++
    this.bytesDone += chunkLength(object.size, this.release.chunkBytes, chunkIndex)
  }

  /** Records that a peer holds a chunk; counts it when the peer is usable. */
  learn(peer: DownloadPeer, chunk: number): void {
    if (peer.learn(chunk) && peer.usable) this.#availability[chunk]!++
  }

  /** Records that a peer does not hold a chunk after all. */
  forget(peer: DownloadPeer, chunk: number): void {
    if (peer.forget(chunk) && peer.usable) this.#availability[chunk]!--
  }

  /** Adds (+1) or removes (-1) all of a peer's chunks from the availability counts. */
  countPeer(peer: DownloadPeer, delta: 1 | -1): void {
    for (let chunk = 0; chunk < this.total; chunk++) {
      if (peer.holds(chunk)) this.#availability[chunk]! += delta
    }
  }

  /**
   * The wanted chunk this peer holds that the fewest usable peers hold, ties broken at random;
   * chunks the peer failed on only when `allowAvoided`, never one `skip` rules out (asked of it
   * already, or one it said to fetch elsewhere for now). A chunk some other peer is fetching right
   * now counts as nearly held by it: devices that start together then ask a seed for different
   * chunks and trade them, instead of all asking it for the same ones.
   */
  pickRarest(
    peer: DownloadPeer,
    allowAvoided: boolean,
    random: () => number,
    now: number,
    skip: (chunk: number) => boolean,
  ): number | undefined {
    let best: number | undefined
    let bestScore = Infinity
    // O(wanted) per pick: fine for thousands of chunks; a bucket queue would be the next step
    for (const chunk of this.wanted) {
      if (!peer.holds(chunk) || (!allowAvoided && peer.avoid.has(chunk))) continue
      // a chunk re-asked after a timeout may still have its first request open at this peer
      if (skip(chunk)) continue
      const pending = this.#pendingUntil[chunk]! > now ? PENDING_WEIGHT : 0
      const score = this.#availability[chunk]! + pending + random() * TIE_BREAK_WEIGHT
      if (score < bestScore) {
        bestScore = score
        best = chunk
      }
    }
    return best
  }
}
