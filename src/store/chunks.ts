import { isSha256Hex } from '../util/hex.js'
import { InvalidChunkSpecError } from './errors.js'
import { checkId } from './layout.js'

/** What an object is made of: its id, its length and the hash of each fixed-size slice. */
export interface ChunkedObjectSpec {
  /** The object's id: sha256 of all its bytes, 64 lowercase hex. */
  sha256: string
  /** The object's length in bytes. */
  size: number
  /** Length of every chunk but the last, which holds the remainder. */
  chunkBytes: number
  /**
   * sha256 of each chunk in order: ceil(size / chunkBytes) entries, and one (the hash of no
   * bytes) for an empty object, as release/ describes objects.
   */
  chunkSha256: readonly string[]
}

/**
 * Number of chunks of an object. An empty object has one empty chunk, so it is filled and
 * published like any other (the same rule as release/).
 */
export function chunkCountOf(size: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(size / chunkBytes))
}

/** Length of chunk `index`: chunkBytes, except the last, which holds what is left. */
export function chunkLengthOf(size: number, chunkBytes: number, index: number): number {
  return Math.max(0, Math.min(chunkBytes, size - index * chunkBytes))
}

/** Throws InvalidChunkSpecError (or InvalidObjectIdError) unless the spec is self-consistent. */
export function checkChunkSpec(spec: ChunkedObjectSpec): void {
  const sha256 = checkId(spec.sha256)
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) {
    throw new InvalidChunkSpecError(sha256, `size ${spec.size} is not a non-negative integer`)
  }
  if (!Number.isSafeInteger(spec.chunkBytes) || spec.chunkBytes <= 0) {
    throw new InvalidChunkSpecError(sha256, `chunkBytes ${spec.chunkBytes} is not positive`)
  }
  const expected = chunkCountOf(spec.size, spec.chunkBytes)
  if (!Array.isArray(spec.chunkSha256) || spec.chunkSha256.length !== expected) {
    const got = Array.isArray(spec.chunkSha256) ? spec.chunkSha256.length : typeof spec.chunkSha256
    throw new InvalidChunkSpecError(
      sha256,
      `${spec.size} bytes in chunks of ${spec.chunkBytes} need ${expected} chunk hashes, got ${got}`,
    )
  }
  spec.chunkSha256.forEach((hash, index) => {
    if (!isSha256Hex(hash)) {
      throw new InvalidChunkSpecError(sha256, `chunk ${index} hash is not 64 lowercase hex`)
    }
  })
}

export function sameSpec(a: ChunkedObjectSpec, b: ChunkedObjectSpec): boolean {
  return (
    a.sha256 === b.sha256 &&
    a.size === b.size &&
    a.chunkBytes === b.chunkBytes &&
    a.chunkSha256.length === b.chunkSha256.length &&
    a.chunkSha256.every((hash, index) => hash === b.chunkSha256[index])
  )
}

/**
 * Bitmap of `count` bits, bit i set when `held(i)`; LSB-first within each byte, so chunk 0 is
 * `map[0] & 1` and chunk 9 is `map[1] & 2`. Bits past `count` in the last byte stay zero.
 */
export function bitmapOf(count: number, held: (index: number) => boolean): Uint8Array {
  const map = new Uint8Array(Math.ceil(count / 8))
  for (let index = 0; index < count; index++) {
    if (held(index)) map[index >> 3]! |= 1 << (index & 7)
  }
  return map
}

/**
 * The chunks of size `ownChunkBytes` that together cover chunk `index` of size `wantChunkBytes`;
 * lets a partial held in one chunking answer for another. Undefined when `index` is past the end.
 */
export function coveringChunks(
  size: number,
  ownChunkBytes: number,
  wantChunkBytes: number,
  index: number,
): { start: number; end: number; first: number; last: number } | undefined {
  if (!Number.isSafeInteger(index) || index < 0) return undefined
  if (index >= chunkCountOf(size, wantChunkBytes)) return undefined
  const start = index * wantChunkBytes
  const end = Math.min(size, start + wantChunkBytes)
  const first = Math.floor(start / ownChunkBytes)
  // Only an empty object has an empty chunk; it is covered by its own (empty) chunk 0.
  const last = end > start ? Math.floor((end - 1) / ownChunkBytes) : first
  return { start, end, first, last }
}
