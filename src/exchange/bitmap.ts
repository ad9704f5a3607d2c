/** Chunk bitmaps as the store keeps them: bit i = chunk i held, least significant bit first. */

/** Bytes of a bitmap covering `count` chunks. */
export function bitmapBytes(count: number): number {
  return Math.ceil(count / 8)
}

export function hasBit(map: Uint8Array, index: number): boolean {
  return ((map[index >> 3] ?? 0) & (1 << (index & 7))) !== 0
}

export function setBit(map: Uint8Array, index: number): void {
  const byte = index >> 3
  if (byte < map.length) map[byte] = (map[byte] ?? 0) | (1 << (index & 7))
}

/** A bitmap of `count` chunks, all held. */
export function fullBitmap(count: number): Uint8Array {
  const map = new Uint8Array(bitmapBytes(count)).fill(0xff)
  clearTail(map, count)
  return map
}

/** Clears the bits past `count` in the last byte, so they can never be read as chunks. */
export function clearTail(map: Uint8Array, count: number): void {
  const spare = map.length * 8 - count
  if (spare > 0 && map.length > 0) {
    map[map.length - 1] = (map[map.length - 1] ?? 0) & (0xff >> spare)
  }
}

/** Number of bits set. */
export function countBits(map: Uint8Array): number {
  let total = 0
  for (const byte of map) {
    let b = byte
    while (b !== 0) {
      b &= b - 1
      total++
    }
  }
  return total
}

export function encodeBitmap(map: Uint8Array): string {
  return Buffer.from(map.buffer, map.byteOffset, map.byteLength).toString('base64')
}

/**
 * Decodes a base64 bitmap of `count` chunks; undefined when it is not exactly that long. Bits past
 * `count` are cleared.
 */
export function decodeBitmap(text: string, count: number): Uint8Array | undefined {
  const bytes = Buffer.from(text, 'base64')
  if (bytes.byteLength !== bitmapBytes(count)) return undefined
  const map = new Uint8Array(bytes)
  clearTail(map, count)
  return map
}
