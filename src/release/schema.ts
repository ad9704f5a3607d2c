import { z } from 'zod'
import { chunkCount } from './chunks.js'
import { InvalidReleaseError } from './errors.js'
import type { Release } from './types.js'

/** Releases larger than this are refused before parsing (a 1 GiB object in 1 MiB chunks is ~70 KiB). */
export const MAX_RELEASE_BYTES = 16 * 1024 * 1024
export const MIN_CHUNK_BYTES = 16 * 1024
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024
export const MAX_SIGNATURES = 16

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected lowercase 64-hex sha256')
const rfc3339 = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'expected an RFC 3339 UTC time')
  .refine(value => !Number.isNaN(Date.parse(value)), 'expected a real date')

const releaseSchema = z
  .object({
    format: z.literal('pvswarm-release@1'),
    fleet: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1–64 of [A-Za-z0-9._-]'),
    sequence: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    issuedAt: rfc3339,
    expiresAt: rfc3339.optional(),
    chunkBytes: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
    revision: z.object({ sha256, state: z.string().min(2) }).strict(),
    objects: z.array(
      z
        .object({
          sha256,
          size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
          chunks: z.array(sha256),
        })
        .strict(),
    ),
    signatures: z
      .array(
        z
          .object({
            key: z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'expected ed25519:<base64url>'),
            signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'expected 64 bytes in base64url'),
          })
          .strict(),
      )
      .max(MAX_SIGNATURES),
  })
  .strict()

/**
 * Checks the shape of a release and the consistency rules a schema cannot
 * express: objects sorted and distinct, one chunk hash per chunk. It does not
 * check signatures or the revision's content (see verify and policy).
 */
export function validateRelease(candidate: unknown): Release {
  const parsed = releaseSchema.safeParse(candidate)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined ? '' : issue.path.join('.') || '(top level)'
    throw new InvalidReleaseError(`release field ${where}: ${issue?.message ?? 'invalid'}`)
  }
  const release = parsed.data as Release

  let previous = ''
  for (const object of release.objects) {
    if (object.sha256 <= previous) {
      throw new InvalidReleaseError(
        `release objects: expected distinct sha256 in ascending order, got ${object.sha256} after ${previous}`,
      )
    }
    previous = object.sha256
    const expected = chunkCount(object.size, release.chunkBytes)
    if (object.chunks.length !== expected) {
      throw new InvalidReleaseError(
        `release object ${object.sha256}: expected ${expected} chunk hashes for ${object.size} bytes, got ${object.chunks.length}`,
      )
    }
  }
  return release
}

/** Parses release bytes as they arrive from a file or a peer. */
export function parseRelease(bytes: Uint8Array): Release {
  if (bytes.byteLength > MAX_RELEASE_BYTES) {
    throw new InvalidReleaseError(
      `release is ${bytes.byteLength} bytes, expected at most ${MAX_RELEASE_BYTES}`,
    )
  }
  let document: unknown
  try {
    document = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidReleaseError(`release is not UTF-8 JSON: ${(err as Error).message}`)
  }
  return validateRelease(document)
}
