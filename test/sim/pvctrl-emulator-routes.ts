import { createReadStream, existsSync, rmSync, statSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import {
  drain,
  fail,
  quotaLeft,
  readSmallBody,
  receiveInto,
  sendError,
  sendJson,
  sendOk,
  type EmulatorCore,
  type Exchange,
} from './pvctrl-emulator-http.js'
import { hashFile } from './pvctrl-emulator-storage.js'
import {
  getProgress,
  getStep,
  listSteps,
  putCommitMessage,
  putStep,
} from './pvctrl-emulator-steps.js'
import { KNOWN_OPS } from './pvctrl-emulator-trial.js'

export type { EmulatorCore } from './pvctrl-emulator-http.js'

type Handler = (exchange: Exchange) => Promise<void>

interface Route {
  pattern: string[]
  method: string
  mgmt: boolean
  handle: Handler
}

// pv-ctrl's limits (ctrl_cmd.h, ctrl_steps_ep.c, ctrl_signal_ep.c)
const COMMAND_MAX_BYTES = 4096
const SIGNAL_MAX_BYTES = 4096

async function listObjects(x: Exchange): Promise<void> {
  const list = x.core.storage.listObjects().map(o => ({ sha256: o.sha256, size: String(o.size) }))
  sendJson(x.res, 200, JSON.stringify(list))
}

async function putObject(x: Exchange): Promise<void> {
  const name = x.path.split('/').filter(Boolean)[1] ?? ''
  if (name.length !== 64) return fail(x, 400, 'Request has bad object name')

  const { storage } = x.core
  const path = storage.objectPath(name)
  if (existsSync(path) && (await hashFile(path)) === name) {
    await drain(x.req)
    return sendOk(x.res)
  }

  // written straight into place, as Pantavisor does
  const received = await receiveInto(x.req, path, quotaLeft(x.core, name))
  if (received.outcome === 'broken') return
  if (received.outcome === 'no-space') {
    // Pantavisor neither deletes the truncated file nor, in its C code,
    // manages to answer 507 here: ctrl_object_upload_complete_cb sends OK
    // first. `objectNoSpaceStatus: 200` reproduces that.
    if (x.core.objectNoSpaceStatus === 200) return sendOk(x.res)
    return sendError(x.res, 507, 'Not enough disk space available')
  }
  if (received.sha256 !== name) {
    rmSync(path, { force: true })
    return sendError(x.res, 422, 'Object has bad checksum')
  }
  sendOk(x.res)
}

async function getObject(x: Exchange): Promise<void> {
  const name = x.path.split('/').filter(Boolean)[1] ?? ''
  const path = x.core.storage.objectPath(name)
  // Pantavisor answers 400, not 404, for an object it does not hold
  if (name.length !== 64 || !existsSync(path)) return fail(x, 400, 'Request has bad object name')
  x.res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(statSync(path).size),
  })
  await pipeline(createReadStream(path), x.res).catch(() => undefined)
}

function parseCommand(body: Buffer): { op: string; payload: string } | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'))
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    const { op, payload } = value as Record<string, unknown>
    if (typeof op !== 'string' || !KNOWN_OPS.has(op) || payload === undefined) return undefined
    return { op, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }
  } catch {
    return undefined
  }
}

async function postCommand(x: Exchange): Promise<void> {
  const body = await readSmallBody(x.req, COMMAND_MAX_BYTES)
  if (body === 'too-large') return sendError(x.res, 507, 'Not enough disk space available')
  const command = parseCommand(body)
  if (command === undefined) return sendError(x.res, 400, 'Command has bad format')
  const refusal = x.core.trials.submit(command.op, command.payload)
  if (refusal !== undefined) {
    return sendError(x.res, refusal.status, refusal.message, refusal.retryAfterSeconds)
  }
  sendOk(x.res)
}

async function getDeviceMeta(x: Exchange): Promise<void> {
  // Pantavisor writes a value that parses as JSON bare and quotes the rest:
  // revision "0" comes out as the number 0.
  const entries = x.core.deviceMeta().map(([key, value]) => {
    let raw: string
    try {
      JSON.parse(value)
      raw = value
    } catch {
      raw = JSON.stringify(value)
    }
    return `${JSON.stringify(key)}:${raw}`
  })
  sendJson(x.res, 200, `{${entries.join(',')}}`)
}

async function postGc(x: Exchange): Promise<void> {
  await drain(x.req)
  const { storage, trials } = x.core
  const keep = new Set([storage.device.revision, storage.device.done])
  if (trials.updating !== undefined) keep.add(trials.updating)
  const reclaimed = storage.collectGarbage(keep, trials.protectedObjects)
  sendJson(x.res, 200, `{"reclaimed": ${reclaimed}}`)
}

async function postSignal(x: Exchange): Promise<void> {
  const body = await readSmallBody(x.req, SIGNAL_MAX_BYTES)
  if (body === 'too-large') return sendError(x.res, 507, 'Not enough disk space available')
  try {
    const value = JSON.parse(body.toString('utf8')) as Record<string, unknown> | null
    if (typeof value?.type === 'string') return sendOk(x.res)
  } catch {
    // falls through to the error
  }
  sendError(x.res, 400, 'Signal has bad format')
}

// Endpoints without a variable part: libevent routes them by exact path.
const EXACT: Record<string, Route> = {
  '/objects': { pattern: [], method: 'GET', mgmt: true, handle: listObjects },
  '/steps': { pattern: [], method: 'GET', mgmt: true, handle: listSteps },
  '/commands': { pattern: [], method: 'POST', mgmt: true, handle: postCommand },
  '/device-meta': { pattern: [], method: 'GET', mgmt: true, handle: getDeviceMeta },
  '/storage/gc': { pattern: [], method: 'POST', mgmt: true, handle: postGc },
  '/signal': { pattern: [], method: 'POST', mgmt: false, handle: postSignal },
}

// Endpoints with `{}`: pv-ctrl tries them newest registration first.
const PATTERNS: Route[] = [
  ['PUT', '/steps/locals/{}/commitmsg', putCommitMessage],
  ['PUT', '/steps/{}/commitmsg', putCommitMessage],
  ['GET', '/steps/locals/{}/progress', getProgress],
  ['GET', '/steps/{}/progress', getProgress],
  ['PUT', '/steps/locals/{}', putStep],
  ['GET', '/steps/locals/{}', getStep],
  ['GET', '/steps/{}', getStep],
  ['GET', '/objects/{}', getObject],
  ['PUT', '/objects/{}', putObject],
].map(([method, path, handle]) => ({
  pattern: (path as string).split('/').filter(Boolean),
  method: method as string,
  mgmt: true,
  handle: handle as Handler,
}))

function matches(pattern: readonly string[], parts: readonly string[]): boolean {
  return (
    pattern.length === parts.length &&
    pattern.every((segment, i) => segment === '{}' || segment === parts[i])
  )
}

/** Answers one request as pv-ctrl would. */
export async function route(core: EmulatorCore, req: IncomingMessage, res: ServerResponse) {
  const uri = req.url ?? '/'
  const path = uri.split('?')[0] ?? '/'
  const host = req.headers.host
  // pv-ctrl drops requests for any host but localhost (or none)
  if (host !== undefined && host !== '' && host !== 'localhost') {
    req.socket.destroy()
    return
  }
  const x: Exchange = { core, req, res, path }

  const exact = EXACT[path]
  if (exact !== undefined) {
    if (req.method !== exact.method) {
      return fail(x, 400, 'Method not supported for this endpoint')
    }
    if (exact.mgmt && core.notMgmt) return fail(x, 403, 'Request not sent from a mgmt platform')
    return exact.handle(x)
  }

  const parts = path.split('/').filter(Boolean)
  let refusal: 'method' | 'mgmt' | undefined
  for (const candidate of PATTERNS) {
    if (!matches(candidate.pattern, parts)) continue
    if (req.method !== candidate.method) {
      refusal = 'method'
      continue
    }
    if (candidate.mgmt && core.notMgmt) {
      refusal = 'mgmt'
      continue
    }
    return candidate.handle(x)
  }
  if (refusal === 'method') return fail(x, 400, 'Method not supported for this endpoint')
  if (refusal === 'mgmt') return fail(x, 403, 'Request not sent from mgmt platform')
  return fail(x, 400, `unknown endpoint: ${uri}`)
}
