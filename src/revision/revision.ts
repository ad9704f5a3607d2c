import canonicalize from 'canonicalize'
import { isSha256Hex, sha256Hex } from '../util/hex.js'
import { StateSyntaxError } from './errors.js'
import { compareCodePoints, scanJson } from './json-scan.js'
import { validateState } from './validate.js'

/** A key of the state whose value is an object id. */
export interface RevisionObjectRef {
  key: string
  sha256: string
}

/** A parsed, validated Pantavisor state, kept as the exact bytes that name it. */
export interface Revision {
  /** Exact canonical bytes of the state: the input bytes whenever they were already canonical. */
  readonly bytes: Uint8Array
  /** sha256 hex of `bytes`: the revision id. */
  readonly sha256: string
  /** The parsed top-level object (frozen). */
  readonly state: Readonly<Record<string, unknown>>
  /** Every key whose value is an object id, sorted by key. */
  readonly objects: readonly RevisionObjectRef[]
  /** Distinct object ids, sorted. */
  readonly objectIds: readonly string[]
  /** True when the input was not canonical and these bytes are its canonical form. */
  readonly canonicalised: boolean
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const encoder = new TextEncoder()

/**
 * Parses and validates a state. Canonical input (pvr's form: no whitespace,
 * members sorted by code point) is kept byte for byte; anything else is
 * canonicalised and flagged, because Pantavisor stores and signs the exact
 * text it receives.
 *
 * @throws StateSyntaxError when the input is not a UTF-8 JSON object
 * @throws InvalidStateError (a subclass naming the key) for any rule broken
 */
export function parseRevision(input: Uint8Array | string): Revision {
  const inputBytes = typeof input === 'string' ? encoder.encode(input) : Uint8Array.from(input)
  const text = decodeState(inputBytes)

  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new StateSyntaxError((err as Error).message)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StateSyntaxError(
      `expected an object at the top level, found ${Array.isArray(parsed) ? 'an array' : typeof parsed}`,
    )
  }
  const state = parsed as Record<string, unknown>

  const layout = scanJson(text)
  const keys = layout.members.map(member => member.key)
  validateState(state, keys)

  let bytes = inputBytes
  if (!layout.canonical) {
    // RFC 8785 sorts members by UTF-16 code unit; for Pantavisor's ASCII paths
    // (and any key below U+E000) that equals pvr's code-point order.
    bytes = encoder.encode(canonicalize(state) as string)
  }

  const objects = keys
    .filter(key => key !== '#spec' && isSha256Hex(state[key]))
    .sort(compareCodePoints)
    .map(key => Object.freeze({ key, sha256: state[key] as string }))
  const objectIds = [...new Set(objects.map(ref => ref.sha256))].sort()

  return Object.freeze({
    bytes,
    sha256: sha256Hex(bytes),
    state: deepFreeze(state),
    objects: Object.freeze(objects),
    objectIds: Object.freeze(objectIds),
    canonicalised: !layout.canonical,
  })
}

/**
 * True when the bytes are JSON in pvr's canonical form: no whitespace outside
 * strings and the members of every object in strictly increasing code-point
 * order. Anything that is not valid UTF-8 JSON is not canonical.
 */
export function isCanonical(input: Uint8Array): boolean {
  try {
    const text = decodeState(input)
    JSON.parse(text)
    return scanJson(text).canonical
  } catch {
    return false
  }
}

/** Object ids `to` references that `from` does not: what moving from one to the other must fetch. */
export function addedObjects(from: Revision, to: Revision): string[] {
  const have = new Set(from.objectIds)
  return to.objectIds.filter(sha => !have.has(sha))
}

function decodeState(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new StateSyntaxError('expected UTF-8 text, found invalid byte sequences')
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
