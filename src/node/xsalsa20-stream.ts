import { xsalsa20 } from '@noble/ciphers/salsa.js'

const BLOCK_BYTES = 64
/** Keystream made per batch; a multiple of the block size. */
const POOL_BYTES = 4 * 1024
/** Pieces at least this long are ciphered by one noble call of their own. */
const DIRECT_MIN_BYTES = 1024
const ZEROS = new Uint8Array(POOL_BYTES)

/**
 * noble's XSalsa20 takes a 32-bit block counter, so one keystream covers
 * 2^32 blocks (256 GiB). libp2p pnet peers count with 64 bits; a connection
 * that moves more than 256 GiB in one direction is dropped and redialled.
 */
const MAX_STREAM_BYTES = 2 ** 32 * BLOCK_BYTES - POOL_BYTES // a refill reads one pool ahead

/**
 * One direction of an XSalsa20 keystream, XORed onto data as it comes, in
 * pieces of any size: the state is just the byte position.
 *
 * Why not the `xsalsa20` package that `@libp2p/pnet` uses: its WebAssembly
 * instances share one memory but each caches a view of it; when one instance
 * grows the memory, the others' views go stale (length 0) and their next
 * update grows it again by its full size. Two directions of one connection
 * alternating 1 MiB and 30-byte updates exhaust the 64 MiB cap within 64
 * rounds and the connection dies with "WebAssembly.Memory.grow(): Maximum
 * memory size exceeded" (xsalsa20 1.2.0, measured here).
 */
export class XSalsa20Stream {
  readonly #key: Uint8Array
  readonly #nonce: Uint8Array
  #positionBytes = 0
  /**
   * Keystream for small pieces is made a batch ahead and XORed on in JS: one
   * noble call costs ~12 µs whatever its length, and a connection carries
   * many 12-byte yamux headers and window updates (a call each: 1 MiB/s).
   */
  readonly #pool = new Uint8Array(POOL_BYTES)
  #poolStart = -1

  constructor(key: Uint8Array, nonce: Uint8Array) {
    if (key.byteLength !== 32) {
      throw new RangeError(`XSalsa20 key: expected 32 bytes, got ${key.byteLength}`)
    }
    if (nonce.byteLength !== 24) {
      throw new RangeError(`XSalsa20 nonce: expected 24 bytes, got ${nonce.byteLength}`)
    }
    this.#key = Uint8Array.from(key)
    this.#nonce = Uint8Array.from(nonce)
  }

  /** Bytes of keystream used so far. */
  get positionBytes(): number {
    return this.#positionBytes
  }

  /** XORs the next `input.byteLength` keystream bytes onto a copy of `input`. */
  update(input: Uint8Array): Uint8Array {
    const length = input.byteLength
    if (this.#positionBytes + length > MAX_STREAM_BYTES) {
      throw new RangeError(
        'XSalsa20 keystream exhausted after 256 GiB; the connection must be redialled',
      )
    }
    const output = length < DIRECT_MIN_BYTES ? this.#fromPool(input) : this.#direct(input)
    this.#positionBytes += length
    return output
  }

  /** Small pieces: XOR from the keystream made ahead. */
  #fromPool(input: Uint8Array): Uint8Array {
    const output = new Uint8Array(input.byteLength)
    let done = 0
    while (done < input.byteLength) {
      const position = this.#positionBytes + done
      if (this.#poolStart < 0 || position >= this.#poolStart + POOL_BYTES) {
        this.#refill(position)
      }
      const offset = position - this.#poolStart
      const count = Math.min(POOL_BYTES - offset, input.byteLength - done)
      for (let i = 0; i < count; i++) {
        output[done + i] = (input[done + i] as number) ^ (this.#pool[offset + i] as number)
      }
      done += count
    }
    return output
  }

  /**
   * Large pieces: finish the current block from the pool, then one noble call
   * from the block boundary. noble's fast path wants 4-byte aligned input and
   * output, so both are laid out to be aligned at that boundary.
   */
  #direct(input: Uint8Array): Uint8Array {
    const length = input.byteLength
    const offsetInBlock = this.#positionBytes % BLOCK_BYTES
    const head = offsetInBlock === 0 ? 0 : Math.min(BLOCK_BYTES - offsetInBlock, length)
    const pad = (4 - (head % 4)) % 4
    const output = new Uint8Array(pad + length).subarray(pad)
    if (head > 0) {
      output.set(this.#fromPool(input.subarray(0, head)))
    }
    if (head < length) {
      let rest = input.subarray(head)
      if (rest.byteOffset % 4 !== 0) {
        rest = Uint8Array.from(rest)
      }
      const block = (this.#positionBytes + head) / BLOCK_BYTES
      xsalsa20(this.#key, this.#nonce, rest, output.subarray(head), block)
    }
    return output
  }

  #refill(position: number): void {
    const block = Math.floor(position / BLOCK_BYTES)
    xsalsa20(this.#key, this.#nonce, ZEROS, this.#pool, block)
    this.#poolStart = block * BLOCK_BYTES
  }
}
