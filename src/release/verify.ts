import { parseRevision, type Revision } from '../revision/index.js'
import { sha256Hex } from '../util/hex.js'
import { signingPayload } from './encoding.js'
import { InvalidReleaseError } from './errors.js'
import { decodePublicKey, verifyBytes } from './keys.js'
import type { Release } from './types.js'

export interface SignatureCheck {
  /** distinct trusted keys whose signature verifies */
  trustedValid: string[]
  /** keys that signed but are not trusted here (their signature is not checked) */
  untrusted: string[]
  /** trusted keys whose signature does not verify: the release was altered or mis-signed */
  invalid: string[]
}

/**
 * Checks every signature of a release against the trusted keys. A key counts
 * once however many times it appears, so k-of-n cannot be met by repetition.
 */
export function checkSignatures(release: Release, trustedKeys: readonly string[]): SignatureCheck {
  const trusted = new Set(trustedKeys.map(key => key.trim()))
  const payload = signingPayload(release)
  const result: SignatureCheck = { trustedValid: [], untrusted: [], invalid: [] }
  const seen = new Set<string>()

  for (const { key, signature } of release.signatures) {
    if (seen.has(key)) continue
    seen.add(key)
    if (!trusted.has(key)) {
      result.untrusted.push(key)
      continue
    }
    const valid = verifyBytes(
      new Uint8Array(Buffer.from(signature, 'base64url')),
      payload,
      decodePublicKey(key),
    )
    if (valid) result.trustedValid.push(key)
    else result.invalid.push(key)
  }
  return result
}

/**
 * Checks that the revision a release carries is what it claims: the state
 * hashes to its id, is already canonical (it is handed over byte for byte),
 * is a valid Pantavisor state, and its objects are exactly the release's.
 */
export function checkReleaseRevision(release: Release): Revision {
  const stateBytes = new TextEncoder().encode(release.revision.state)
  const actual = sha256Hex(stateBytes)
  if (actual !== release.revision.sha256) {
    throw new InvalidReleaseError(
      `release revision: expected state sha256 ${release.revision.sha256}, got ${actual}`,
    )
  }

  let revision: Revision
  try {
    revision = parseRevision(stateBytes)
  } catch (err) {
    throw new InvalidReleaseError(`release revision: ${(err as Error).message}`, { cause: err })
  }
  if (revision.canonicalised) {
    throw new InvalidReleaseError('release revision: the state is not canonical JSON')
  }

  const listed = release.objects.map(object => object.sha256)
  const referenced = revision.objectIds
  const missing = referenced.filter(sha => !listed.includes(sha))
  const extra = listed.filter(sha => !referenced.includes(sha))
  if (missing.length > 0 || extra.length > 0) {
    throw new InvalidReleaseError(
      `release objects do not match the revision: missing ${missing.join(', ') || 'none'}; ` +
        `not referenced ${extra.join(', ') || 'none'}`,
    )
  }
  return revision
}
