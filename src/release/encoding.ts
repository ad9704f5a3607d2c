import canonicalize from 'canonicalize'
import { sha256Hex } from '../util/hex.js'
import type { Release, ReleaseBody } from './types.js'

/**
 * Prefix of every signed payload, so an ed25519 signature over a release can
 * never be replayed as a signature over anything else signed with the same key.
 */
export const RELEASE_SIGNING_DOMAIN = 'pvswarm release signature v1\n'

/** The body of a release: everything but the signatures, with no extra fields. */
export function releaseBody(release: ReleaseBody | Release): ReleaseBody {
  const body: ReleaseBody = {
    format: release.format,
    fleet: release.fleet,
    sequence: release.sequence,
    issuedAt: release.issuedAt,
    chunkBytes: release.chunkBytes,
    revision: { sha256: release.revision.sha256, state: release.revision.state },
    objects: release.objects.map(o => ({ sha256: o.sha256, size: o.size, chunks: [...o.chunks] })),
  }
  if (release.expiresAt !== undefined) body.expiresAt = release.expiresAt
  return body
}

/**
 * The exact bytes every signature covers: the domain prefix followed by the
 * RFC 8785 canonical JSON of the body (JCS; a library does the canonical form).
 */
export function signingPayload(release: ReleaseBody | Release): Uint8Array {
  const canonical = canonicalize(releaseBody(release))
  if (canonical === undefined) throw new TypeError('expected a release body, got nothing')
  return new TextEncoder().encode(RELEASE_SIGNING_DOMAIN + canonical)
}

/**
 * A release's id: the sha256 of its signing payload. Adding a signature does
 * not change it, so the same release signed by more keys is still one release.
 */
export function releaseId(release: ReleaseBody | Release): string {
  return sha256Hex(signingPayload(release))
}

/** The bytes a release is stored and sent as (canonical JSON, signatures included). */
export function encodeRelease(release: Release): Uint8Array {
  const body = releaseBody(release)
  const canonical = canonicalize({ ...body, signatures: release.signatures })
  if (canonical === undefined) throw new TypeError('expected a release, got nothing')
  return new TextEncoder().encode(canonical)
}
