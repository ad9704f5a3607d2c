import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { EmulatorStorage, ProgressDocument } from './pvctrl-emulator-storage.js'
import type { TrialEngine, TrialScript } from './pvctrl-emulator-trial.js'

/** 200 with no body, as pv_ctrl_utils_send_ok answers. */
export function sendOk(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '0' })
  res.end()
}

export function sendJson(res: ServerResponse, status: number, text: string | Uint8Array): void {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(body.byteLength),
  })
  res.end(body)
}

/** `{"Error":"…"}` with the given status (and Retry-After when asked). */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  retryAfterSeconds?: number,
): void {
  if (retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(retryAfterSeconds))
  sendJson(res, status, `{"Error":${JSON.stringify(message)}}`)
}

/** Reads and discards the rest of the body, as Pantavisor does before answering an error. */
export async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return
  req.resume()
  try {
    await once(req, 'end')
  } catch {
    // the caller went away; nothing to answer
  }
}

/**
 * The whole body, or 'too-large' past `maxBytes` (still drained, since
 * Pantavisor judges the size once everything has arrived).
 */
export async function readSmallBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.byteLength
    if (total <= maxBytes) chunks.push(chunk)
  }
  return total > maxBytes ? 'too-large' : Buffer.concat(chunks)
}

export type ReceiveResult =
  | { outcome: 'stored'; sha256: string; bytes: number }
  | { outcome: 'no-space'; bytes: number }
  | { outcome: 'broken' }

/**
 * Streams a request body into `path` (truncating it), hashing as it goes and
 * honouring the file's backpressure. Past `limitBytes` it stops writing and
 * drains the rest: Pantavisor checks free space chunk by chunk.
 */
export async function receiveInto(
  req: IncomingMessage,
  path: string,
  limitBytes: number,
): Promise<ReceiveResult> {
  const out = createWriteStream(path)
  // an upload cut short destroys the file stream while a write may be pending;
  // that write's late error is expected and must not crash the emulator
  let fileError: Error | undefined
  out.on('error', err => {
    fileError = err
  })
  const hash = createHash('sha256')
  let written = 0
  let full = false
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (full) continue
      if (written + chunk.byteLength > limitBytes) {
        full = true
        continue
      }
      written += chunk.byteLength
      hash.update(chunk)
      if (!out.write(chunk)) await once(out, 'drain')
    }
  } catch {
    out.destroy()
    return { outcome: 'broken' }
  }
  out.end()
  await once(out, 'close')
  if (fileError !== undefined) return { outcome: 'broken' }
  if (full) return { outcome: 'no-space', bytes: written }
  return { outcome: 'stored', sha256: hash.digest('hex'), bytes: written }
}

/** What the request handlers need from the emulator. */
export interface EmulatorCore {
  storage: EmulatorStorage
  trials: TrialEngine
  notMgmt: boolean
  quotaBytes: number
  /** what an object upload that ran out of space is answered */
  objectNoSpaceStatus: 200 | 507
  script(rev: string): TrialScript
  /** device-meta entries, values as Pantavisor stores them (text) */
  deviceMeta(): Array<[string, string]>
  onProgress(rev: string, document: ProgressDocument): void
}

/** One request being answered. */
export interface Exchange {
  core: EmulatorCore
  req: IncomingMessage
  res: ServerResponse
  /** the path without query, as received (pv-ctrl does not percent-decode) */
  path: string
}

/** Drains the body, then answers `{"Error": message}`. */
export async function fail(
  x: Exchange,
  status: number,
  message: string,
  retry?: number,
): Promise<void> {
  await drain(x.req)
  sendError(x.res, status, message, retry)
}

/** Bytes an upload may still write before the disk is full. */
export function quotaLeft(core: EmulatorCore, except?: string): number {
  return core.quotaBytes - core.storage.objectBytes(except)
}
