import { parseHostPort } from '../util/host-port.js'
import { CommandFailure } from './errors.js'

/** Where `pvswarm status` and `pvswarm fleet` look for a daemon's API unless told. */
export const DEFAULT_API = '127.0.0.1:8222'

/** GETs a JSON document from a running daemon's local API, failing with one clear line. */
export async function getFromApi<T>(api: string, path: string): Promise<T> {
  if (parseHostPort(api) === undefined) {
    throw new CommandFailure(`--api: expected host:port, got "${api}"`)
  }
  const url = `http://${api}${path}`
  let response: Response
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5000) })
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const reason = cause?.code ?? cause?.message ?? (err as Error).message
    throw new CommandFailure(
      `cannot reach the daemon's API at ${url} (${reason}); is it running with --api ${api}?`,
    )
  }
  const text = await response.text()
  if (!response.ok) {
    throw new CommandFailure(`${url}: HTTP ${response.status}: ${text.trim().slice(0, 200)}`)
  }
  try {
    return JSON.parse(text) as T
  } catch {
    throw new CommandFailure(`${url}: expected JSON, got "${text.slice(0, 80)}"`)
  }
}

/** `3 s`, `4 min`, `2 h`: ages and ETAs for people. */
export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—'
  if (seconds < 90) return `${Math.round(seconds)} s`
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`
  return `${(seconds / 3600).toFixed(1)} h`
}

/** A long id cut to its ends, as the fleet page shows it. */
export function shortPeer(id: string): string {
  return id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id
}
