import type { Uint8ArrayList } from 'uint8arraylist'
import { z } from 'zod'
import { isSha256Hex } from '../util/hex.js'
import {
  MAX_ANNOUNCED_RELEASES,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_HAVE_UPDATE_CHUNKS,
  RELEASE_ID,
} from './constants.js'
import { encodeFrame } from './framing.js'
import { MessageTooLargeError, ProtocolViolationError } from './errors.js'

/** First byte of every frame: what follows. */
export const enum FrameKind {
  /** UTF-8 JSON control message */
  Json = 1,
  /** u8 id length, release id, release bytes */
  ReleaseBytes = 2,
  /** u32 request id, chunk bytes */
  ChunkData = 3,
}

const releaseId = z.string().regex(RELEASE_ID)
const sha256 = z.string().refine(isSha256Hex, 'expected 64 lowercase hex characters')
const count = z
  .number()
  .int()
  .nonnegative()
  .max(2 ** 32 - 1)

export const releaseMessage = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('announce'),
    releases: z
      .array(
        z.object({
          fleet: z.string().min(1).max(256),
          sequence: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
          releaseId,
        }),
      )
      .max(MAX_ANNOUNCED_RELEASES),
  }),
  z.object({ t: z.literal('want'), ids: z.array(releaseId).max(MAX_ANNOUNCED_RELEASES) }),
])
export type ReleaseMessage = z.infer<typeof releaseMessage>

export const haveRequest = z.object({ t: z.literal('sub'), r: releaseId })
export type HaveRequest = z.infer<typeof haveRequest>

export const haveMessage = z.discriminatedUnion('t', [
  z.object({ t: z.literal('no'), reason: z.string().max(200) }),
  z.object({ t: z.literal('map'), o: count, bits: z.string().max(1024 * 1024) }),
  z.object({ t: z.literal('add'), c: z.array(count).max(2 * MAX_HAVE_UPDATE_CHUNKS) }),
  /** chunks the sender is fetching right now: others had better fetch different ones first */
  z.object({ t: z.literal('pend'), c: z.array(count).max(2 * MAX_HAVE_UPDATE_CHUNKS) }),
])
export type HaveMessage = z.infer<typeof haveMessage>

export const chunkRequest = z.discriminatedUnion('t', [
  z.object({ t: z.literal('get'), id: count, r: releaseId, o: sha256, i: count }),
  z.object({ t: z.literal('cancel'), id: count }),
])
export type ChunkRequest = z.infer<typeof chunkRequest>

/**
 * Why a chunk request was refused: the release is not served here, the chunk is not held (yet),
 * the request names no chunk of the release, every upload slot and wait place is taken (ask
 * someone else, or again a little later), or the server's wait places go to rarer chunks and it
 * has handed this one to another peer already (fetch it from that peer, or ask here later).
 */
export type ChunkRefusal = 'not-servable' | 'missing' | 'bad-request' | 'busy' | 'elsewhere'

export const chunkError = z.object({
  t: z.literal('err'),
  id: count,
  code: z.enum(['not-servable', 'missing', 'bad-request', 'busy', 'elsewhere']),
})
export type ChunkError = z.infer<typeof chunkError>

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A JSON control frame. */
export function jsonFrame(message: object): Uint8ArrayList {
  return encodeFrame(Uint8Array.of(FrameKind.Json), encoder.encode(JSON.stringify(message)))
}

/** Parses a JSON control frame (kind already checked) against `schema`, or throws a violation. */
export function parseJson<T>(
  protocol: string,
  frame: Uint8ArrayList,
  schema: z.ZodType<T>,
  maxBytes = MAX_CONTROL_MESSAGE_BYTES,
): T {
  if (frame.byteLength - 1 > maxBytes) {
    throw new MessageTooLargeError(protocol, maxBytes, frame.byteLength - 1)
  }
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(frame.subarray(1)))
  } catch {
    throw new ProtocolViolationError(protocol, 'control message is not UTF-8 JSON')
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined ? '' : `${issue.path.join('.') || '(root)'}: ${issue.message}`
    throw new ProtocolViolationError(protocol, `unexpected control message (${where})`)
  }
  return parsed.data
}

/** The kind byte of a frame, or a violation for an empty one. */
export function frameKind(protocol: string, frame: Uint8ArrayList): number {
  if (frame.byteLength === 0) throw new ProtocolViolationError(protocol, 'empty frame')
  return frame.get(0)
}

/** A chunk data frame: kind, request id, the chunk's bytes (not copied). */
export function chunkDataFrame(requestId: number, bytes: Uint8Array): Uint8ArrayList {
  const head = new Uint8Array(5)
  head[0] = FrameKind.ChunkData
  new DataView(head.buffer).setUint32(1, requestId)
  return encodeFrame(head, bytes)
}

/** A release bytes frame: kind, id length, id, the release bytes (not copied). */
export function releaseBytesFrame(id: string, bytes: Uint8Array): Uint8ArrayList {
  const idBytes = encoder.encode(id)
  return encodeFrame(Uint8Array.of(FrameKind.ReleaseBytes, idBytes.byteLength), idBytes, bytes)
}

/** Splits a release bytes frame into its id and bytes. */
export function parseReleaseBytes(
  protocol: string,
  frame: Uint8ArrayList,
): { releaseId: string; bytes: Uint8Array } {
  const idLength = frame.byteLength > 1 ? frame.get(1) : 0
  if (idLength === 0 || frame.byteLength < 2 + idLength) {
    throw new ProtocolViolationError(protocol, 'release frame without a release id')
  }
  const id = decoder.decode(frame.subarray(2, 2 + idLength))
  if (!RELEASE_ID.test(id)) throw new ProtocolViolationError(protocol, 'malformed release id')
  return { releaseId: id, bytes: frame.subarray(2 + idLength) }
}
