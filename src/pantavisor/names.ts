import { isSha256Hex } from '../util/hex.js'
import { PvCtrlBadRequestError } from './errors.js'

/** Prefix Pantavisor gives to revisions that arrive through pv-ctrl rather than from the cloud. */
export const LOCAL_REVISION_PREFIX = 'locals/'

/** Pantavisor refuses longer local names (SIZE_LOCAL_REV). */
export const LOCAL_NAME_MAX_CHARS = 64

// Pantavisor itself checks only the prefix, the length and the single '/'; the
// character set is the one its docs ask for, and it keeps names safe as paths
// and in URLs (pv-ctrl does not percent-decode).
const SEGMENT = /^[A-Za-z0-9._-]+$/

function isSafeSegment(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== '.' && segment !== '..'
}

/**
 * True for a local revision name Pantavisor accepts on `PUT /steps/<name>`:
 * `locals/<name>`, at most 64 characters after the prefix, exactly one '/',
 * characters `[A-Za-z0-9._-]`.
 */
export function isValidLocalName(name: string): boolean {
  if (!name.startsWith(LOCAL_REVISION_PREFIX)) return false
  const rest = name.slice(LOCAL_REVISION_PREFIX.length)
  return rest.length <= LOCAL_NAME_MAX_CHARS && isSafeSegment(rest)
}

/**
 * True for any revision name pv-ctrl can be asked about: a local name, a
 * remote revision (`0`, `1`, …), or `current`.
 */
export function isValidRevisionName(rev: string): boolean {
  if (rev.startsWith(LOCAL_REVISION_PREFIX)) return isValidLocalName(rev)
  return rev.length <= LOCAL_NAME_MAX_CHARS && isSafeSegment(rev)
}

/** @throws PvCtrlBadRequestError unless `sha256` is 64 lowercase hex characters */
export function assertObjectId(sha256: string, operation: string): void {
  if (!isSha256Hex(sha256)) {
    throw new PvCtrlBadRequestError(
      `${operation}: object id must be 64 lowercase hex characters, got ${JSON.stringify(sha256)}`,
    )
  }
}

/** @throws PvCtrlBadRequestError unless `rev` passes isValidRevisionName */
export function assertRevisionName(rev: string, operation: string): void {
  if (!isValidRevisionName(rev)) {
    throw new PvCtrlBadRequestError(
      `${operation}: invalid revision name ${JSON.stringify(rev)}: expected 'current', a ` +
        "remote revision like '3', or 'locals/<name>' of [A-Za-z0-9._-]",
    )
  }
}

/** @throws PvCtrlBadRequestError unless `name` passes isValidLocalName */
export function assertLocalName(name: string, operation: string): void {
  if (!isValidLocalName(name)) {
    throw new PvCtrlBadRequestError(
      `${operation}: invalid local revision name ${JSON.stringify(name)}: expected ` +
        `'locals/<name>' with at most ${LOCAL_NAME_MAX_CHARS} characters of [A-Za-z0-9._-] after the prefix`,
    )
  }
}
