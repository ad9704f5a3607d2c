import { request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import {
  PvCtrlBadRequestError,
  PvCtrlError,
  PvCtrlProtocolError,
  PvCtrlTimeoutError,
  PvCtrlUnavailableError,
} from './errors.js'

/** One request to pv-ctrl, described so errors can name it. */
export interface PvCtrlCall {
  method: 'GET' | 'PUT' | 'POST'
  path: string
  /** what a 422 means here: the two uploads give it different meanings */
  kind?: 'object-upload' | 'step-upload'
  body?: Uint8Array | StreamedBody
  contentType?: string
  /** longest silence tolerated on the socket */
  timeoutMs: number
  signal?: AbortSignal
}

/** A body sent with Content-Length and pulled from its source only as fast as the socket drains. */
export interface StreamedBody {
  bytes: AsyncIterable<Uint8Array>
  size: number
}

/** An answer whose headers arrived; the body is still unread. */
export interface PvCtrlResponse {
  res: IncomingMessage
  status: number
  /** turns an error met while reading the body into the right PvCtrlError */
  mapError(err: unknown): unknown
  /** drops the connection (pv-ctrl is called with `Connection: close` anyway) */
  close(): void
}

/** Longest JSON answer read into memory; a step listing of hundreds of revisions stays far below. */
export const MAX_JSON_ANSWER_BYTES = 16 * 1024 * 1024

/** Names a request in messages. */
export function describe(call: PvCtrlCall): string {
  return `pv-ctrl ${call.method} ${call.path}`
}

const GONE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTSOCK'])

/** Socket-level failure → PvCtrlUnavailableError (the device may be rebooting), else as is. */
export function transportError(err: unknown, call: PvCtrlCall, socketPath: string): unknown {
  if (err instanceof PvCtrlError) return err
  if (call.signal?.aborted) return call.signal.reason
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (code !== undefined && GONE_CODES.has(code)) {
    return new PvCtrlUnavailableError(
      `${describe(call)}: pv-ctrl at ${socketPath} is not reachable (${code}: ${message})`,
      [socketPath],
      { cause: err },
    )
  }
  if (message === 'socket hang up' || message === 'aborted') {
    return new PvCtrlUnavailableError(
      `${describe(call)}: pv-ctrl at ${socketPath} closed the connection (${message})`,
      [socketPath],
      { cause: err },
    )
  }
  return err
}

/** Sends the request; resolves once the answer's headers are in. */
export function openCall(socketPath: string, call: PvCtrlCall): Promise<PvCtrlResponse> {
  return new Promise<PvCtrlResponse>((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { Host: 'localhost' }
    const body = call.body
    if (body !== undefined) {
      headers['Content-Length'] = String(body instanceof Uint8Array ? body.byteLength : body.size)
      headers['Content-Type'] = call.contentType ?? 'application/octet-stream'
    }

    let timedOut = false
    let responded = false
    let settled = false
    const req = request({
      socketPath,
      method: call.method,
      path: call.path,
      headers,
      agent: false,
      ...(call.signal === undefined ? {} : { signal: call.signal }),
    })

    const mapError = (err: unknown): unknown => {
      if (timedOut) {
        return new PvCtrlTimeoutError(
          `${describe(call)}: no bytes moved for ${call.timeoutMs} ms on ${socketPath}`,
          {},
          { cause: err },
        )
      }
      return transportError(err, call, socketPath)
    }
    const fail = (err: unknown): void => {
      req.destroy()
      if (settled) return
      settled = true
      reject(mapError(err))
    }

    req.setTimeout(call.timeoutMs, () => {
      timedOut = true
      fail(new Error('timeout'))
    })
    req.on('error', fail)
    req.on('response', res => {
      responded = true
      if (settled) return
      settled = true
      resolve({
        res,
        status: res.statusCode ?? 0,
        mapError,
        close: () => req.destroy(),
      })
    })

    if (body === undefined) req.end()
    else if (body instanceof Uint8Array) req.end(body)
    else {
      const stopped = (): boolean => responded || req.destroyed
      pump(req, body, stopped, call).catch(fail)
    }
  })
}

async function pump(
  req: ReturnType<typeof request>,
  body: StreamedBody,
  stopped: () => boolean,
  call: PvCtrlCall,
): Promise<void> {
  let sentBytes = 0
  for await (const chunk of body.bytes) {
    // pv-ctrl answered before the end (an error it found in the headers): stop feeding it
    if (stopped()) return
    sentBytes += chunk.byteLength
    if (sentBytes > body.size) {
      throw new PvCtrlBadRequestError(
        `${describe(call)}: the source yielded more than the declared ${body.size} bytes`,
      )
    }
    if (!req.write(chunk)) await writable(req)
  }
  if (stopped()) return
  if (sentBytes !== body.size) {
    throw new PvCtrlBadRequestError(
      `${describe(call)}: the source yielded ${sentBytes} bytes, declared ${body.size}`,
    )
  }
  req.end()
}

/** Resolves when the request can take more, or when writing no longer matters. */
function writable(req: ReturnType<typeof request>): Promise<void> {
  return new Promise(resolve => {
    const done = (): void => {
      req.off('drain', done)
      req.off('close', done)
      req.off('response', done)
      resolve()
    }
    req.on('drain', done)
    req.on('close', done)
    req.on('response', done)
  })
}

/** Reads the whole body (bounded), mapping socket failures. */
export async function readBody(
  response: PvCtrlResponse,
  call: PvCtrlCall,
  maxBytes = MAX_JSON_ANSWER_BYTES,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  try {
    for await (const chunk of response.res as AsyncIterable<Buffer>) {
      total += chunk.byteLength
      if (total > maxBytes) {
        throw new PvCtrlProtocolError(`${describe(call)}: answer exceeds ${maxBytes} bytes`, {
          status: response.status,
        })
      }
      chunks.push(chunk)
    }
  } catch (err) {
    throw response.mapError(err)
  } finally {
    response.close()
  }
  return Buffer.concat(chunks)
}
