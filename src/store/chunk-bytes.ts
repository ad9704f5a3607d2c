import { createHash } from 'node:crypto'

/**
 * A chunk as it came off the network: the pieces the transport delivered, in order, not joined
 * (a Uint8ArrayList fits). Joining them would copy every byte once more for nothing: hashing
 * takes them one by one and a vectored write puts them on disk as they are.
 */
export interface ChunkPieces {
  readonly byteLength: number
  [Symbol.iterator](): Iterator<Uint8Array>
  /**
   * Drops the first `bytes` (Uint8ArrayList has it). Pieces that can be consumed are taken over
   * by the store: it copies them and empties them at once; see PartialCore.writeChunk.
   */
  consume?(bytes: number): void
}

/** A chunk's bytes: one buffer, or the pieces it arrived in. */
export type ChunkBytes = Uint8Array | ChunkPieces

/** The buffers of a chunk, in order, without copying. */
export function piecesOf(bytes: ChunkBytes): Uint8Array[] {
  return bytes instanceof Uint8Array ? [bytes] : [...bytes]
}

/**
 * sha256 hex of pieces taken as one run of bytes. On the event loop on purpose: with sha-ni it
 * costs ~0.6 ms per MiB here, and handing a chunk to the thread pool (webcrypto) first copies it
 * whole, needs it joined into one buffer, and measured no cheaper for the event loop.
 */
export function sha256OfPieces(pieces: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  for (const piece of pieces) hash.update(piece)
  return hash.digest('hex')
}
