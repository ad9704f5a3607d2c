import { createHash } from 'node:crypto'
import { PvrObjectHashMismatchError, PvrObjectSizeMismatchError } from './errors.js'

/**
 * Where imported objects go; the store implements it. `put` must receive
 * exactly `size` bytes whose sha256 is `sha256` before it makes the object
 * visible, and must not keep anything when the byte iterator throws.
 */
export interface ObjectSink {
  has(sha256: string): Promise<boolean>
  put(sha256: string, size: number, bytes: AsyncIterable<Uint8Array>): Promise<void>
}

/** Where exported objects come from; the store implements it. */
export interface ObjectSource {
  size(sha256: string): Promise<number>
  read(sha256: string): AsyncIterable<Uint8Array>
}

/**
 * A sink that keeps nothing: it reads every byte, checks length and hash, and
 * forgets them. Importing into it checks an export without storing it
 * (`revision check`).
 */
export function discardingSink(): ObjectSink {
  return {
    has: async () => false,
    put: async (sha256, size, bytes) => {
      for await (const _ of verifiedBytes(bytes, sha256, size, `object ${sha256}`)) {
        // consumed: verifiedBytes throws on a bad length or hash
      }
    },
  }
}

/**
 * Passes bytes through while hashing them, always holding back the latest
 * chunk. When the source ends, length and hash are checked before that last
 * chunk is released; on a mismatch the iterator throws instead, so a consumer
 * that commits only after reading `size` bytes never sees a complete bad
 * object. A source longer than `size` fails as soon as it overruns.
 *
 * @param origin names where the bytes come from, for error messages
 */
export async function* verifiedBytes(
  source: AsyncIterable<Uint8Array>,
  sha256: string,
  size: number,
  origin: string,
): AsyncGenerator<Uint8Array, void, undefined> {
  const hash = createHash('sha256')
  let seenBytes = 0
  let held: Uint8Array | undefined
  for await (const chunk of source) {
    if (chunk.byteLength === 0) continue
    seenBytes += chunk.byteLength
    if (seenBytes > size) throw new PvrObjectSizeMismatchError(sha256, size, seenBytes, origin)
    hash.update(chunk)
    if (held !== undefined) yield held
    held = chunk
  }
  if (seenBytes !== size) throw new PvrObjectSizeMismatchError(sha256, size, seenBytes, origin)
  const actual = hash.digest('hex')
  if (actual !== sha256) throw new PvrObjectHashMismatchError(sha256, actual, origin)
  if (held !== undefined) yield held
}
