import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  fail,
  quotaLeft,
  readSmallBody,
  receiveInto,
  sendError,
  sendJson,
  sendOk,
  type Exchange,
} from './pvctrl-emulator-http.js'
import { isSafeRelativePath, progressDocument } from './pvctrl-emulator-storage.js'

// The /steps endpoints (ctrl_steps_ep.c).

const COMMIT_MESSAGE_MAX_BYTES = 256
const LOCAL_PREFIX = 'locals/'
const LOCAL_NAME_MAX = 64

/** The revision named after `/steps/`, without a trailing `/progress` or `/commitmsg`. */
function revisionOf(x: Exchange, suffix = ''): string | undefined {
  let rev = x.path.slice('/steps/'.length)
  if (suffix !== '') rev = rev.slice(0, -suffix.length)
  if (rev === 'current') return x.core.storage.device.revision
  return isSafeRelativePath(rev) ? rev : undefined
}

/** Pantavisor's pv_storage_is_revision_local, plus refusing '.' and '..' to keep the folder safe. */
function isAcceptedLocalName(name: string): boolean {
  if (!name.startsWith(LOCAL_PREFIX)) return false
  const rest = name.slice(LOCAL_PREFIX.length)
  return rest.length <= LOCAL_NAME_MAX && !rest.includes('/') && isSafeRelativePath(rest)
}

export async function listSteps(x: Exchange): Promise<void> {
  const { storage } = x.core
  // laid out as pv_storage_get_revisions_string prints it
  const lines = storage.listRevisions().map(rev => {
    const progress = storage.readProgressText(rev)
    const message = JSON.stringify(storage.readCommitMessage(rev)).slice(1, -1)
    return (
      `{"name":${JSON.stringify(rev)}, "date":"${storage.stepDate(rev)}", ` +
      `"commitmsg":"${message}", "progress":${progress === undefined || progress === '' ? '{}' : progress}}`
    )
  })
  sendJson(x.res, 200, `[${lines.join(',')}]`)
}

export async function getStep(x: Exchange): Promise<void> {
  const rev = revisionOf(x)
  const bytes = rev === undefined ? undefined : x.core.storage.readState(rev)
  if (bytes === undefined) return fail(x, 404, 'Resource does not exist')
  sendJson(x.res, 200, bytes)
}

function parsesAsSystemState(bytes: Buffer): boolean {
  try {
    const state: unknown = JSON.parse(bytes.toString('utf8'))
    return (
      typeof state === 'object' &&
      state !== null &&
      !Array.isArray(state) &&
      (state as Record<string, unknown>)['#spec'] === 'pantavisor-service-system@1'
    )
  } catch {
    return false
  }
}

export async function putStep(x: Exchange): Promise<void> {
  const name = x.path.slice('/steps/'.length)
  // "bas" is Pantavisor's own spelling
  if (!isAcceptedLocalName(name)) return fail(x, 400, 'Request has bas step name')

  const { core } = x
  const progress = (status: string, message: string): void => {
    const document = progressDocument(status, message)
    core.storage.writeProgress(name, document)
    core.onProgress(name, document)
  }
  progress('NEW', 'Update not yet installed')
  const path = core.storage.statePath(name)
  mkdirSync(dirname(path), { recursive: true })
  const received = await receiveInto(x.req, path, quotaLeft(core))
  if (received.outcome === 'broken') return
  progress('NEW', 'Update ready to be run')
  if (received.outcome === 'no-space') {
    return sendError(x.res, 507, 'Not enough disk space available')
  }

  const rejection = core.script(name).rejectOnPut
  if (rejection !== undefined) {
    core.storage.removeStep(name)
    return sendError(x.res, 422, `Secureboot: ${rejection}`)
  }
  if (!parsesAsSystemState(core.storage.readState(name) ?? Buffer.alloc(0))) {
    core.storage.removeStep(name)
    return sendError(x.res, 422, 'Parser: State JSON has bad format')
  }
  sendOk(x.res)
}

export async function getProgress(x: Exchange): Promise<void> {
  const rev = revisionOf(x, '/progress')
  const text = rev === undefined ? undefined : x.core.storage.readProgressText(rev)
  if (text === undefined) return fail(x, 404, 'Resource does not exist')
  sendJson(x.res, 200, text)
}

export async function putCommitMessage(x: Exchange): Promise<void> {
  const rev = revisionOf(x, '/commitmsg')
  const body = await readSmallBody(x.req, COMMIT_MESSAGE_MAX_BYTES)
  if (body === 'too-large') return sendError(x.res, 507, 'Not enough disk space available')
  if (rev === undefined || body.byteLength === 0) {
    return sendError(x.res, 400, 'No commit message')
  }
  const path = x.core.storage.commitMessagePath(rev)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, body)
  sendOk(x.res)
}
