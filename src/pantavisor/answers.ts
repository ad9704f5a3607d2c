import { isSha256Hex } from '../util/hex.js'
import { PvCtrlProtocolError } from './errors.js'

/** An object in the device's storage. */
export interface PvCtrlObject {
  sha256: string
  size: number
}

/** A revision stored on the device, as `GET /steps` lists it. */
export interface PvCtrlStep {
  name: string
  /** when its trail was made, as Pantavisor formats it */
  date?: string
  commitmsg?: string
  /** the progress document as stored (`{}` when there is none yet) */
  progress?: unknown
}

function fail(path: string, expected: string, found: unknown): never {
  const shown = JSON.stringify(found) ?? String(found)
  throw new PvCtrlProtocolError(
    `pv-ctrl GET ${path}: expected ${expected}, got ${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}`,
  )
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `[{"sha256":"…","size":"<decimal string>"}]` → objects with numeric sizes. */
export function parseObjectList(value: unknown, path: string): PvCtrlObject[] {
  if (!Array.isArray(value)) fail(path, 'a JSON array', value)
  return value.map(entry => {
    if (!isRecord(entry) || !isSha256Hex(entry.sha256)) {
      fail(path, 'entries {"sha256": <64 hex>, "size": "<bytes>"}', entry)
    }
    // Pantavisor sends the size as a string; accept a number too.
    const raw = entry.size
    const size = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      fail(path, `a byte count as size of ${entry.sha256}`, raw)
    }
    return { sha256: entry.sha256, size }
  })
}

/** `[{"name","date","commitmsg","progress"}]`, checked. */
export function parseStepList(value: unknown, path: string): PvCtrlStep[] {
  if (!Array.isArray(value)) fail(path, 'a JSON array', value)
  return value.map(entry => {
    if (!isRecord(entry) || typeof entry.name !== 'string') {
      fail(path, 'entries with a string "name"', entry)
    }
    const step: PvCtrlStep = { name: entry.name }
    if (typeof entry.date === 'string') step.date = entry.date
    if (typeof entry.commitmsg === 'string') step.commitmsg = entry.commitmsg
    if (entry.progress !== undefined) step.progress = entry.progress
    return step
  })
}
