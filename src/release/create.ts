import type { Revision } from '../revision/index.js'
import { signBytes, type ReleaseKeyPair } from './keys.js'
import { signingPayload, releaseBody } from './encoding.js'
import { validateRelease } from './schema.js'
import { checkReleaseRevision } from './verify.js'
import type { Release, ReleaseBody, ReleaseObject } from './types.js'

/** The default chunk size: small enough to blame one peer quickly, large enough to stream fast. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024

export interface CreateReleaseInit {
  revision: Revision
  /** one entry per distinct object of the revision (see `describeObject`) */
  objects: readonly ReleaseObject[]
  fleet: string
  sequence: number
  /** @default now */
  issuedAt?: Date
  expiresAt?: Date
  /** @default 1 MiB */
  chunkBytes?: number
}

/** Builds the unsigned body of a release and checks it like a device would. */
export function createRelease(init: CreateReleaseInit): ReleaseBody {
  const body: ReleaseBody = {
    format: 'pvswarm-release@1',
    fleet: init.fleet,
    sequence: init.sequence,
    issuedAt: toRfc3339(init.issuedAt ?? new Date()),
    chunkBytes: init.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    revision: {
      sha256: init.revision.sha256,
      state: new TextDecoder().decode(init.revision.bytes),
    },
    objects: [...init.objects].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1)),
  }
  if (init.expiresAt !== undefined) body.expiresAt = toRfc3339(init.expiresAt)

  const release = validateRelease({ ...body, signatures: [] })
  checkReleaseRevision(release)
  return releaseBody(release)
}

/**
 * Adds (or replaces) `key`'s signature. Signing twice with different keys
 * gives a release that k-of-n trust policies can accept.
 */
export function signRelease(release: ReleaseBody | Release, key: ReleaseKeyPair): Release {
  const signature = signBytes(signingPayload(release), key.secretKey)
  const others =
    'signatures' in release ? release.signatures.filter(s => s.key !== key.publicKey) : []
  return {
    ...releaseBody(release),
    signatures: [
      ...others,
      { key: key.publicKey, signature: Buffer.from(signature).toString('base64url') },
    ],
  }
}

function toRfc3339(date: Date): string {
  if (Number.isNaN(date.getTime()))
    throw new RangeError('expected a valid date, got an invalid one')
  // whole seconds: releases are compared by time, and sub-second noise only makes ids differ
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
