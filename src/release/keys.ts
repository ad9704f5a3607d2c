import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { InvalidKeyError } from './errors.js'

// noble-ed25519 needs a sha512 to offer its synchronous API.
ed.hashes.sha512 = sha512

const PUBLIC_KEY_PREFIX = 'ed25519:'
const KEY_FILE_FORMAT = 'pvswarm-release-key@1'

export interface ReleaseKeyPair {
  /** 32-byte ed25519 secret key (seed) */
  secretKey: Uint8Array
  /** the public key as printed and trusted: `ed25519:<base64url>` */
  publicKey: string
}

/** A fresh release signing key. */
export function generateReleaseKey(): ReleaseKeyPair {
  const { secretKey, publicKey } = ed.keygen()
  return { secretKey, publicKey: encodePublicKey(publicKey) }
}

/** `ed25519:<base64url>` for a 32-byte public key: one short string to paste into `--trust`. */
export function encodePublicKey(publicKey: Uint8Array): string {
  if (publicKey.byteLength !== 32) {
    throw new InvalidKeyError(
      `expected a 32-byte ed25519 public key, got ${publicKey.byteLength} bytes`,
    )
  }
  return PUBLIC_KEY_PREFIX + Buffer.from(publicKey).toString('base64url')
}

/** Reverse of `encodePublicKey`; throws InvalidKeyError naming what is wrong. */
export function decodePublicKey(text: string): Uint8Array {
  const trimmed = text.trim()
  if (!trimmed.startsWith(PUBLIC_KEY_PREFIX)) {
    throw new InvalidKeyError(`public key "${trimmed}": expected the prefix "${PUBLIC_KEY_PREFIX}"`)
  }
  const encoded = trimmed.slice(PUBLIC_KEY_PREFIX.length)
  if (!/^[A-Za-z0-9_-]{43}$/.test(encoded)) {
    throw new InvalidKeyError(
      `public key "${trimmed}": expected 43 base64url characters after the prefix`,
    )
  }
  return new Uint8Array(Buffer.from(encoded, 'base64url'))
}

/** Public key of a secret key, encoded. */
export function publicKeyOf(secretKey: Uint8Array): string {
  return encodePublicKey(ed.getPublicKey(secretKey))
}

/** The text of a private key file (JSON). Whoever writes it must create it mode 0600. */
export function encodeKeyFile(key: ReleaseKeyPair): string {
  const document = {
    format: KEY_FILE_FORMAT,
    publicKey: key.publicKey,
    secretKey: Buffer.from(key.secretKey).toString('base64url'),
  }
  return JSON.stringify(document, null, 2) + '\n'
}

/** Reads the text of a private key file and checks that its two halves belong together. */
export function decodeKeyFile(text: string, where = 'key file'): ReleaseKeyPair {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (err) {
    throw new InvalidKeyError(`${where}: not JSON (${(err as Error).message})`)
  }
  const fields = document as Record<string, unknown> | null
  if (fields === null || typeof fields !== 'object' || fields.format !== KEY_FILE_FORMAT) {
    throw new InvalidKeyError(`${where}: expected "format": "${KEY_FILE_FORMAT}"`)
  }
  if (typeof fields.secretKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(fields.secretKey)) {
    throw new InvalidKeyError(`${where}: expected "secretKey" to be 32 bytes in base64url`)
  }
  const secretKey = new Uint8Array(Buffer.from(fields.secretKey, 'base64url'))
  const publicKey = publicKeyOf(secretKey)
  if (fields.publicKey !== undefined && fields.publicKey !== publicKey) {
    throw new InvalidKeyError(`${where}: "publicKey" does not belong to "secretKey"`)
  }
  return { secretKey, publicKey }
}

/** ed25519 signature of `message`. */
export function signBytes(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed.sign(message, secretKey)
}

/** True when `signature` is `publicKey`'s valid ed25519 signature of `message`. */
export function verifyBytes(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  try {
    return ed.verify(signature, message, publicKey)
  } catch {
    // malformed points or lengths are simply not a valid signature
    return false
  }
}
