import { chunkCount } from '../release/index.js'
import { isSha256Hex, shortId } from '../util/hex.js'

/** An object as a release describes it, with the chunk size of its chunk list. */
export interface ChunkedObject {
  sha256: string
  size: number
  chunkBytes: number
  /** sha256 hex of each `chunkBytes` slice, in order (one, of nothing, for an empty object) */
  chunks: readonly string[]
}

export interface Waiter {
  index: number
  resolve(bytes: Uint8Array): void
  reject(err: unknown): void
}

/** The requests for one object (at one chunk size) and the pass serving them. */
export interface ObjectReads {
  key: string
  spec: ChunkedObject
  count: number
  waiters: Map<number, Waiter[]>
  waiting: number
  running: boolean
  pass: AbortController | undefined
}

/** Reason a pass is aborted with when nobody waits for it any more: not an error. */
export const NOBODY_WAITS = Symbol('nobody waits')

export function chunkKey(object: ChunkedObject, index: number): string {
  return `${object.sha256}:${object.chunkBytes}:${index}`
}

/** Validates an object description; returns its chunk count. */
export function checkObject(object: ChunkedObject): number {
  if (!isSha256Hex(object.sha256)) {
    throw new RangeError(`object id: expected 64 lowercase hex, got ${String(object.sha256)}`)
  }
  if (!Number.isSafeInteger(object.size) || object.size < 0) {
    throw new RangeError(`object ${shortId(object.sha256)}: size must be >= 0, got ${object.size}`)
  }
  if (!Number.isSafeInteger(object.chunkBytes) || object.chunkBytes < 1) {
    throw new RangeError(
      `object ${shortId(object.sha256)}: chunkBytes must be a positive integer, got ${object.chunkBytes}`,
    )
  }
  const count = chunkCount(object.size, object.chunkBytes)
  if (object.chunks.length !== count) {
    throw new RangeError(
      `object ${shortId(object.sha256)}: expected ${count} chunk hashes for ${object.size} bytes, got ${object.chunks.length}`,
    )
  }
  return count
}
