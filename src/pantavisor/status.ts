import {
  PvCtrlBadChecksumError,
  PvCtrlBadRequestError,
  PvCtrlBadStateError,
  PvCtrlBusyError,
  PvCtrlForbiddenError,
  PvCtrlNoSpaceError,
  PvCtrlNotFoundError,
  PvCtrlProtocolError,
  PvCtrlServerError,
  type PvCtrlError,
} from './errors.js'
import { describe, readBody, type PvCtrlCall, type PvCtrlResponse } from './http.js'

// What pv-ctrl's answers mean: status codes to typed errors, its error bodies,
// Retry-After.

/** Where Retry-After is missing or unreadable, wait this long before asking again. */
export const DEFAULT_RETRY_AFTER_MS = 10_000

/** Pantavisor's `{"Error": "…"}` text, or the raw body (shortened) when it is not that. */
export function errorText(body: Buffer): string {
  const text = body.toString('utf8')
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null && 'Error' in parsed) {
      const message = (parsed as { Error: unknown }).Error
      if (typeof message === 'string') return message
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  if (text.length === 0) return '(empty body)'
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

/** Retry-After (seconds or an HTTP date) in milliseconds. */
export function retryAfterMs(header: string | string[] | undefined, nowMs = Date.now()): number {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined) return DEFAULT_RETRY_AFTER_MS
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return DEFAULT_RETRY_AFTER_MS
  return Math.max(0, date - nowMs)
}

const METHOD_REFUSAL = 'Method not supported for this endpoint'

/** The typed error for a non-2xx answer. */
export function statusError(
  status: number,
  pvMessage: string,
  call: PvCtrlCall,
  busyRetryAfterMs = DEFAULT_RETRY_AFTER_MS,
): PvCtrlError {
  const said = `${describe(call)} answered ${status}: ${pvMessage}`
  const details = { status, pvMessage }
  const forbidden = (): PvCtrlForbiddenError =>
    new PvCtrlForbiddenError(
      `${said}. Pantavisor serves pv-ctrl only to management containers: ` +
        'the container running pvswarm needs "roles":["mgmt"] in its run.json',
      details,
    )
  switch (status) {
    case 400:
      // The client only sends methods pv-ctrl supports. pv-ctrl's router keeps
      // the last refusal among same-path routes, so a caller without the mgmt
      // role gets this 400 instead of 403 on GET /objects/<sha> and
      // PUT /steps/locals/<name> (ctrl.c, ctrl_router_cb).
      if (pvMessage === METHOD_REFUSAL) return forbidden()
      return new PvCtrlBadRequestError(said, details)
    case 403:
      return forbidden()
    case 404:
      return new PvCtrlNotFoundError(said, details)
    case 422:
      if (call.kind === 'object-upload') {
        return new PvCtrlBadChecksumError(
          `${said} (the bytes sent do not hash to the name)`,
          details,
        )
      }
      if (call.kind === 'step-upload') {
        return new PvCtrlBadStateError(`${said} (Pantavisor deleted the step)`, details)
      }
      return new PvCtrlServerError(said, details)
    case 503:
      return new PvCtrlBusyError(said, busyRetryAfterMs, details)
    case 507:
      return new PvCtrlNoSpaceError(`${said} (the device's storage is full)`, details)
    default:
      return new PvCtrlServerError(said, details)
  }
}

/** Consumes the answer; throws the typed error unless it is 2xx. */
export async function expectOk(response: PvCtrlResponse, call: PvCtrlCall): Promise<Buffer> {
  const body = await readBody(response, call)
  if (response.status >= 200 && response.status < 300) return body
  throw statusError(
    response.status,
    errorText(body),
    call,
    retryAfterMs(response.res.headers['retry-after']),
  )
}

/** A 2xx JSON answer, parsed. */
export async function expectJson(response: PvCtrlResponse, call: PvCtrlCall): Promise<unknown> {
  const body = await expectOk(response, call)
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new PvCtrlProtocolError(
      `${describe(call)}: answer is not JSON: ${errorText(body)}`,
      { status: response.status },
      { cause: err },
    )
  }
}
