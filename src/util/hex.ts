import { createHash } from 'node:crypto'

const SHA256_HEX = /^[0-9a-f]{64}$/

/** True for a lowercase 64-character hex string: Pantavisor's object id form. */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value)
}

/** Lowercase hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** First 12 characters of a long hex id, for messages and logs. */
export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 12)}…` : id
}
