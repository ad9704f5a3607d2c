import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { request, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import {
  startPvCtrlEmulator,
  type ProgressEvent,
  type PvCtrlEmulator,
  type PvCtrlEmulatorOptions,
} from './pvctrl-emulator.js'

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
}

/** One raw HTTP exchange over the emulator's socket. */
function call(
  emulator: PvCtrlEmulator,
  method: string,
  path: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = { Host: 'localhost' },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const length = body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) }
    const req = request({
      socketPath: emulator.socketPath,
      method,
      path,
      headers: { ...length, ...headers },
      agent: false,
    })
    req.on('error', reject)
    req.on('response', res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const all = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: all,
          text: all.toString(),
        })
      })
    })
    req.end(body)
  })
}

function sha(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

const SPEC = 'pantavisor-service-system@1'

/** A state naming the given objects under simple keys, and their ids. */
function stateWith(objects: Buffer[]): { bytes: Buffer; ids: string[] } {
  const ids = objects.map(o => sha(o))
  const state: Record<string, unknown> = { '#spec': SPEC }
  ids.forEach((id, i) => (state[`app/file${i}`] = id))
  return { bytes: Buffer.from(JSON.stringify(state)), ids }
}

async function emulatorFor(t: TestContext, options: PvCtrlEmulatorOptions = {}) {
  const emulator = await startPvCtrlEmulator(options)
  t.after(() => emulator.close())
  return emulator
}

/** Uploads objects and the state as `rev`. */
async function stage(emulator: PvCtrlEmulator, rev: string, objects: Buffer[]): Promise<string[]> {
  const { bytes, ids } = stateWith(objects)
  for (const [i, object] of objects.entries()) {
    assert.equal((await call(emulator, 'PUT', `/objects/${ids[i]}`, object)).status, 200)
  }
  assert.equal((await call(emulator, 'PUT', `/steps/${rev}`, bytes)).status, 200)
  return ids
}

/**
 * Uploads a state made of `entries` as `rev`: a Buffer becomes an object
 * under that key, anything else inline JSON.
 */
async function stageEntries(
  emulator: PvCtrlEmulator,
  rev: string,
  entries: Record<string, Buffer | object>,
): Promise<void> {
  const state: Record<string, unknown> = { '#spec': SPEC }
  for (const [key, value] of Object.entries(entries)) {
    if (!Buffer.isBuffer(value)) {
      state[key] = value
      continue
    }
    assert.equal((await call(emulator, 'PUT', `/objects/${sha(value)}`, value)).status, 200)
    state[key] = sha(value)
  }
  const bytes = JSON.stringify(state)
  assert.equal((await call(emulator, 'PUT', `/steps/${rev}`, bytes)).status, 200)
}

/** Runs `rev` with LOCAL_RUN and resolves with its final status. */
async function runToEnd(emulator: PvCtrlEmulator, rev: string): Promise<string> {
  const ended = new Promise<string>(resolve => {
    const onProgress = (event: ProgressEvent): void => {
      if (
        event.rev !== rev ||
        !['DONE', 'UPDATED', 'ERROR', 'WONTGO'].includes(event.progress.status)
      )
        return
      emulator.off('progress', onProgress)
      resolve(event.progress.status)
    }
    emulator.on('progress', onProgress)
  })
  assert.equal((await call(emulator, 'POST', '/commands', command('LOCAL_RUN', rev))).status, 200)
  return ended
}

/** A device that already runs a revision: BSP, device.json and two containers. */
const BASE: Record<string, Buffer | object> = {
  'bsp/run.json': { linux: 'kernel.img', initrd: 'pantavisor' },
  'bsp/kernel.img': Buffer.from('kernel 1'),
  'bsp/pantavisor': Buffer.from('initrd 1'),
  'device.json': { groups: [{ name: 'app', status_goal: 'STARTED', timeout: 30 }] },
  'app/run.json': { restart_policy: 'container', 'root-volume': 'root.squashfs' },
  'app/root.squashfs': Buffer.from('app 1'),
  'core/run.json': { restart_policy: 'system', 'root-volume': 'root.squashfs' },
  'core/root.squashfs': Buffer.from('core 1'),
}

async function runningBase(t: TestContext, options: PvCtrlEmulatorOptions = {}) {
  const emulator = await emulatorFor(t, options)
  await stageEntries(emulator, 'locals/base', BASE)
  assert.equal(await runToEnd(emulator, 'locals/base'), 'DONE')
  return emulator
}

function statusesOf(emulator: PvCtrlEmulator, rev: string): string[] {
  const seen: string[] = []
  emulator.on('progress', (event: ProgressEvent) => {
    if (event.rev === rev) seen.push(event.progress.status)
  })
  return seen
}

async function runningRevision(emulator: PvCtrlEmulator): Promise<unknown> {
  const meta = JSON.parse((await call(emulator, 'GET', '/device-meta')).text) as Record<
    string,
    unknown
  >
  return meta['pantavisor.revision']
}

const command = (op: string, payload: string) => JSON.stringify({ op, payload })

describe('pv-ctrl emulator: objects', () => {
  it('lists objects with their size as a decimal string', async t => {
    const emulator = await emulatorFor(t)
    const object = randomBytes(1000)
    await call(emulator, 'PUT', `/objects/${sha(object)}`, object)
    const answer = await call(emulator, 'GET', '/objects')
    assert.deepEqual(JSON.parse(answer.text), [{ sha256: sha(object), size: '1000' }])
  })

  it('stores an uploaded object on disk under its sha and answers 200', async t => {
    const emulator = await emulatorFor(t)
    const object = randomBytes(300_000)
    const answer = await call(emulator, 'PUT', `/objects/${sha(object)}`, object)
    assert.equal(answer.status, 200)
    assert.deepEqual(readFileSync(emulator.objectPath(sha(object))), object)
  })

  it('answers 200 for an object already present and leaves the file alone', async t => {
    const emulator = await emulatorFor(t)
    const object = randomBytes(5000)
    await call(emulator, 'PUT', `/objects/${sha(object)}`, object)
    const before = statSync(emulator.objectPath(sha(object)))
    const answer = await call(emulator, 'PUT', `/objects/${sha(object)}`, object)
    assert.equal(answer.status, 200)
    assert.equal(statSync(emulator.objectPath(sha(object))).mtimeMs, before.mtimeMs)
  })

  it('answers 400 "Request has bad object name" for a name that is not 64 characters', async t => {
    const emulator = await emulatorFor(t)
    const answer = await call(emulator, 'PUT', '/objects/abc123', 'x')
    assert.equal(answer.status, 400)
    assert.deepEqual(JSON.parse(answer.text), { Error: 'Request has bad object name' })
  })

  it('answers 422 "Object has bad checksum" and deletes bytes that do not hash to the name', async t => {
    const emulator = await emulatorFor(t)
    const wrongName = sha('something else')
    const answer = await call(emulator, 'PUT', `/objects/${wrongName}`, randomBytes(4096))
    assert.equal(answer.status, 422)
    assert.deepEqual(JSON.parse(answer.text), { Error: 'Object has bad checksum' })
    assert.equal(existsSync(emulator.objectPath(wrongName)), false)
  })

  it('answers 507 past the quota, leaving the truncated file as Pantavisor does', async t => {
    const emulator = await emulatorFor(t, { quotaBytes: 100_000 })
    const first = randomBytes(60_000)
    const second = randomBytes(60_000)
    assert.equal((await call(emulator, 'PUT', `/objects/${sha(first)}`, first)).status, 200)
    const answer = await call(emulator, 'PUT', `/objects/${sha(second)}`, second)
    assert.equal(answer.status, 507)
    assert.deepEqual(JSON.parse(answer.text), { Error: 'Not enough disk space available' })
    assert.ok(statSync(emulator.objectPath(sha(second))).size < second.byteLength)
    assert.deepEqual(readFileSync(emulator.objectPath(sha(first))), first)
  })

  it('answers 200 to an upload that ran out of space when told to act like the C code', async t => {
    const emulator = await emulatorFor(t, { quotaBytes: 10_000, objectNoSpaceStatus: 200 })
    const object = randomBytes(60_000)
    const answer = await call(emulator, 'PUT', `/objects/${sha(object)}`, object)
    assert.equal(answer.status, 200)
    const listed = JSON.parse((await call(emulator, 'GET', '/objects')).text)
    assert.equal(listed.length, 1)
    assert.ok(Number(listed[0].size) < object.byteLength)
  })

  it('serves an object as raw bytes with its Content-Length', async t => {
    const emulator = await emulatorFor(t)
    const object = randomBytes(200_000)
    await call(emulator, 'PUT', `/objects/${sha(object)}`, object)
    const answer = await call(emulator, 'GET', `/objects/${sha(object)}`)
    assert.equal(answer.status, 200)
    assert.equal(answer.headers['content-length'], '200000')
    assert.deepEqual(answer.body, object)
  })

  it('answers 400 "Request has bad object name" for an object it does not hold, as Pantavisor does', async t => {
    const emulator = await emulatorFor(t)
    const answer = await call(emulator, 'GET', `/objects/${sha('absent')}`)
    assert.equal(answer.status, 400)
    assert.deepEqual(JSON.parse(answer.text), { Error: 'Request has bad object name' })
  })
})

describe('pv-ctrl emulator: steps', () => {
  it('stores a local step byte for byte with progress NEW', async t => {
    const emulator = await emulatorFor(t)
    const bytes = Buffer.from(`{ "#spec" : "${SPEC}" ,\n "x.json": {} }`)
    assert.equal((await call(emulator, 'PUT', '/steps/locals/a', bytes)).status, 200)
    assert.deepEqual((await call(emulator, 'GET', '/steps/locals/a')).body, bytes)
    const progress = JSON.parse((await call(emulator, 'GET', '/steps/locals/a/progress')).text)
    assert.deepEqual(progress, {
      status: 'NEW',
      'status-msg': 'Update ready to be run',
      progress: 0,
      retries: 0,
    })
  })

  it('accepts a step whose objects are not on the device', async t => {
    const emulator = await emulatorFor(t)
    const { bytes } = stateWith([randomBytes(10)])
    assert.equal((await call(emulator, 'PUT', '/steps/locals/ahead', bytes)).status, 200)
  })

  it('answers 400 for step names Pantavisor refuses and stores nothing', async t => {
    const emulator = await emulatorFor(t)
    const body = JSON.stringify({ '#spec': SPEC })
    const tooLong = await call(emulator, 'PUT', `/steps/locals/${'a'.repeat(65)}`, body)
    assert.equal(tooLong.status, 400)
    assert.deepEqual(JSON.parse(tooLong.text), { Error: 'Request has bas step name' })
    assert.equal((await call(emulator, 'PUT', '/steps/locals/a/b', body)).status, 400)
    const remote = await call(emulator, 'PUT', '/steps/7', body)
    assert.equal(remote.status, 400)
    assert.deepEqual(JSON.parse(remote.text), { Error: 'Method not supported for this endpoint' })
    const names = JSON.parse((await call(emulator, 'GET', '/steps')).text).map(
      (s: { name: string }) => s.name,
    )
    assert.deepEqual(names, ['0'])
  })

  it('answers 422 "Parser: …" for a body that is not a system state, and deletes the step', async t => {
    const emulator = await emulatorFor(t)
    for (const body of ['not json', '[1,2]', JSON.stringify({ '#spec': 'other@1' })]) {
      const answer = await call(emulator, 'PUT', '/steps/locals/bad', body)
      assert.equal(answer.status, 422)
      assert.deepEqual(JSON.parse(answer.text), { Error: 'Parser: State JSON has bad format' })
      assert.equal((await call(emulator, 'GET', '/steps/locals/bad')).status, 404)
    }
  })

  it('answers 422 "Secureboot: …" when the script rejects the signature', async t => {
    const emulator = await emulatorFor(t, {
      trials: { 'locals/unsigned': { rejectOnPut: 'Signature validation failed' } },
    })
    const answer = await call(
      emulator,
      'PUT',
      '/steps/locals/unsigned',
      JSON.stringify({ '#spec': SPEC }),
    )
    assert.equal(answer.status, 422)
    assert.deepEqual(JSON.parse(answer.text), { Error: 'Secureboot: Signature validation failed' })
    assert.equal((await call(emulator, 'GET', '/steps/locals/unsigned/progress')).status, 404)
  })

  it('lists steps with name, date, commit message and progress, remote before local', async t => {
    const emulator = await emulatorFor(t)
    await call(emulator, 'PUT', '/steps/locals/b', JSON.stringify({ '#spec': SPEC }))
    await call(emulator, 'PUT', '/steps/locals/b/commitmsg', 'second "try"')
    const steps = JSON.parse((await call(emulator, 'GET', '/steps')).text)
    assert.deepEqual(
      steps.map((s: { name: string }) => s.name),
      ['0', 'locals/b'],
    )
    assert.equal(steps[1].commitmsg, 'second "try"')
    assert.equal(steps[1].progress.status, 'NEW')
    assert.match(steps[1].date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  })

  it('serves the running revision as /steps/current', async t => {
    const emulator = await emulatorFor(t)
    const answer = await call(emulator, 'GET', '/steps/current')
    assert.equal(answer.status, 200)
    assert.deepEqual(JSON.parse(answer.text), { '#spec': SPEC })
  })

  it('answers 404 "Resource does not exist" for an unknown step or its progress', async t => {
    const emulator = await emulatorFor(t)
    for (const path of ['/steps/locals/nope', '/steps/locals/nope/progress', '/steps/9']) {
      const answer = await call(emulator, 'GET', path)
      assert.equal(answer.status, 404)
      assert.deepEqual(JSON.parse(answer.text), { Error: 'Resource does not exist' })
    }
  })

  it('takes a commit message of 256 bytes and answers 507 to 257', async t => {
    const emulator = await emulatorFor(t)
    await call(emulator, 'PUT', '/steps/locals/m', JSON.stringify({ '#spec': SPEC }))
    assert.equal(
      (await call(emulator, 'PUT', '/steps/locals/m/commitmsg', 'a'.repeat(256))).status,
      200,
    )
    const tooLong = await call(emulator, 'PUT', '/steps/locals/m/commitmsg', 'b'.repeat(257))
    assert.equal(tooLong.status, 507)
    const steps = JSON.parse((await call(emulator, 'GET', '/steps')).text)
    assert.equal(steps[1].commitmsg, 'a'.repeat(256))
  })
})

describe('pv-ctrl emulator: commands and trials', () => {
  it('answers 400 "Command has bad format" without payload, with an unknown op, or for non-JSON', async t => {
    const emulator = await emulatorFor(t)
    for (const body of [JSON.stringify({ op: 'LOCAL_RUN' }), command('FLY', 'x'), 'LOCAL_RUN']) {
      const answer = await call(emulator, 'POST', '/commands', body)
      assert.equal(answer.status, 400)
      assert.deepEqual(JSON.parse(answer.text), { Error: 'Command has bad format' })
    }
  })

  it('runs LOCAL_RUN through NEW, INPROGRESS, TESTING to UPDATED and switches the revision', async t => {
    const emulator = await runningBase(t)
    await stageEntries(emulator, 'locals/r1', { ...BASE, 'app/root.squashfs': randomBytes(100) })
    const seen = statusesOf(emulator, 'locals/r1')
    assert.equal(
      (await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/r1'))).status,
      200,
    )
    const done = await emulator.waitFor('UPDATED', 'locals/r1')
    assert.equal(done.progress['status-msg'], 'Update finished, revision not set as rollback point')
    assert.deepEqual(seen, ['INPROGRESS', 'TESTING', 'UPDATED'])
    assert.equal(await runningRevision(emulator), 'locals/r1')
  })

  it('ends LOCAL_RUN_COMMIT DONE through the reboot path', async t => {
    const emulator = await emulatorFor(t)
    await stage(emulator, 'locals/c', [randomBytes(100)])
    const messages: string[] = []
    emulator.on('progress', (e: ProgressEvent) => messages.push(e.progress['status-msg']))
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN_COMMIT', 'locals/c'))
    await emulator.waitFor('DONE', 'locals/c')
    assert.deepEqual(messages, [
      'Rebooting',
      'Trying new revision',
      'Awaiting to set rollback point if update is stable',
      'Update finished, revision set as rollback point',
    ])
    assert.equal(await runningRevision(emulator), 'locals/c')
  })

  it('ends LOCAL_RUN DONE when the script says the revision needs a reboot', async t => {
    const emulator = await runningBase(t, { trials: { 'locals/bsp': { reboot: true } } })
    await stageEntries(emulator, 'locals/bsp', { ...BASE, 'app/root.squashfs': randomBytes(100) })
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/bsp'))
    const done = await emulator.waitFor('DONE', 'locals/bsp')
    assert.equal(done.progress.progress, 100)
  })

  it('ends a failing trial ERROR and keeps the previous revision', async t => {
    const emulator = await emulatorFor(t, { trials: { 'locals/crash': { outcome: 'error' } } })
    await stage(emulator, 'locals/crash', [randomBytes(100)])
    const seen = statusesOf(emulator, 'locals/crash')
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/crash'))
    const end = await emulator.waitFor('ERROR', 'locals/crash')
    assert.equal(end.progress['status-msg'], 'A container could not be started')
    assert.deepEqual(seen, ['INPROGRESS', 'INPROGRESS', 'TESTING', 'ERROR'])
    assert.equal(await runningRevision(emulator), 0)
  })

  it('ends a refused revision WONTGO straight from NEW', async t => {
    const emulator = await emulatorFor(t, {
      trials: {
        'locals/w': { outcome: 'wontgo', statusMsg: 'State not fully covered by signatures' },
      },
    })
    await stage(emulator, 'locals/w', [randomBytes(100)])
    const seen = statusesOf(emulator, 'locals/w')
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/w'))
    const end = await emulator.waitFor('WONTGO', 'locals/w')
    assert.equal(end.progress['status-msg'], 'State not fully covered by signatures')
    assert.deepEqual(seen, ['WONTGO'])
    assert.equal(emulator.revision, '0')
  })

  it('accepts LOCAL_RUN with missing objects and ends the trial ERROR', async t => {
    const emulator = await emulatorFor(t)
    const { bytes } = stateWith([randomBytes(100)])
    await call(emulator, 'PUT', '/steps/locals/hollow', bytes)
    assert.equal(
      (await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/hollow'))).status,
      200,
    )
    const end = await emulator.waitFor('ERROR', 'locals/hollow')
    assert.equal(end.progress['status-msg'], 'Object validation went wrong')
    assert.equal(emulator.revision, '0')
  })

  it('ends LOCAL_RUN of a revision never stored WONTGO "State JSON not found"', async t => {
    const emulator = await emulatorFor(t)
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/ghost'))
    const end = await emulator.waitFor('WONTGO', 'locals/ghost')
    assert.equal(end.progress['status-msg'], 'State JSON not found')
  })

  it('answers 503 with Retry-After 600 to LOCAL_RUN while a trial runs', async t => {
    // a hang while only containers restart; a rebooting one would be rolled back at once
    const emulator = await emulatorFor(t, {
      trials: { 'locals/hang': { outcome: 'rollback', reboot: false } },
    })
    await stage(emulator, 'locals/hang', [randomBytes(100)])
    await stage(emulator, 'locals/next', [randomBytes(100)])
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/hang'))
    await emulator.waitFor('TESTING', 'locals/hang')
    const answer = await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/next'))
    assert.equal(answer.status, 503)
    assert.equal(answer.headers['retry-after'], '600')
    assert.deepEqual(JSON.parse(answer.text), {
      Error: 'Cannot do this operation while update is ongoing',
    })
  })

  it('answers 503 with Retry-After 120 while another command waits to be picked up', async t => {
    const emulator = await emulatorFor(t, { delays: { pickupMs: 60_000 } })
    assert.equal((await call(emulator, 'POST', '/commands', command('TRY_ONCE', 'x'))).status, 200)
    const answer = await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/x'))
    assert.equal(answer.status, 503)
    assert.equal(answer.headers['retry-after'], '120')
    assert.deepEqual(JSON.parse(answer.text), {
      Error: 'A command is already in progress. Try again',
    })
  })

  it('accepts TRY_ONCE and LOCAL_APPLY and then ignores them', async t => {
    const emulator = await emulatorFor(t)
    await stage(emulator, 'locals/t', [randomBytes(100)])
    for (const op of ['TRY_ONCE', 'LOCAL_APPLY']) {
      const pickedUp = once(emulator, 'command')
      assert.equal((await call(emulator, 'POST', '/commands', command(op, 'locals/t'))).status, 200)
      assert.deepEqual((await pickedUp)[0], { op, payload: 'locals/t' })
      assert.equal(emulator.progress('locals/t')?.status, 'NEW')
    }
    assert.equal(emulator.revision, '0')
  })
})

describe('pv-ctrl emulator: reboot or restart, as the change decides', () => {
  it('reboots for the first install, with nothing running yet', async t => {
    const emulator = await emulatorFor(t, { rebootDuringTrial: true })
    await stageEntries(emulator, 'locals/first', { 'app/root.squashfs': randomBytes(10) })
    const downs: string[] = []
    emulator.on('down', () => downs.push('down'))
    assert.equal(await runToEnd(emulator, 'locals/first'), 'DONE')
    assert.deepEqual(downs, ['down'])
  })

  it('restarts only the container when one container changed, without taking the socket down', async t => {
    const emulator = await runningBase(t, { rebootDuringTrial: true })
    await stageEntries(emulator, 'locals/app2', { ...BASE, 'app/root.squashfs': randomBytes(10) })
    const downs: string[] = []
    emulator.on('down', () => downs.push('down'))
    assert.equal(await runToEnd(emulator, 'locals/app2'), 'UPDATED')
    assert.deepEqual(downs, [])
    assert.equal(emulator.revision, 'locals/app2')
  })

  it('restarts the container when only its _config overlay changed', async t => {
    const emulator = await runningBase(t)
    await stageEntries(emulator, 'locals/conf', {
      ...BASE,
      '_config/app/etc/x.conf': randomBytes(5),
    })
    assert.equal(await runToEnd(emulator, 'locals/conf'), 'UPDATED')
  })

  it('reboots when a BSP object changed', async t => {
    const emulator = await runningBase(t)
    await stageEntries(emulator, 'locals/kernel', { ...BASE, 'bsp/kernel.img': randomBytes(10) })
    assert.equal(await runToEnd(emulator, 'locals/kernel'), 'DONE')
  })

  it('reboots when a top-level key (device.json) changed', async t => {
    const emulator = await runningBase(t)
    await stageEntries(emulator, 'locals/groups', { ...BASE, 'device.json': { groups: [] } })
    assert.equal(await runToEnd(emulator, 'locals/groups'), 'DONE')
  })

  it('reboots when a container with restart_policy system changed', async t => {
    const emulator = await runningBase(t)
    await stageEntries(emulator, 'locals/core2', { ...BASE, 'core/root.squashfs': randomBytes(10) })
    assert.equal(await runToEnd(emulator, 'locals/core2'), 'DONE')
  })

  it('follows a script that says no reboot even when the BSP changed', async t => {
    const emulator = await runningBase(t, { trials: { 'locals/noreboot': { reboot: false } } })
    await stageEntries(emulator, 'locals/noreboot', { ...BASE, 'bsp/kernel.img': randomBytes(10) })
    assert.equal(await runToEnd(emulator, 'locals/noreboot'), 'UPDATED')
  })
})

describe('pv-ctrl emulator: garbage collection', () => {
  it('deletes objects uploaded for a revision not yet run, and that step', async t => {
    const emulator = await emulatorFor(t)
    const objects = [randomBytes(1000), randomBytes(2345)]
    const ids = await stage(emulator, 'locals/pending', objects)
    const answer = await call(emulator, 'POST', '/storage/gc')
    assert.deepEqual(JSON.parse(answer.text), { reclaimed: 3345 })
    assert.equal(
      ids.some(id => emulator.hasObject(id)),
      false,
    )
    assert.equal((await call(emulator, 'GET', '/steps/locals/pending')).status, 404)
  })

  it('keeps objects linked into the running revision and deletes the rest', async t => {
    const emulator = await emulatorFor(t)
    const [kept] = await stage(emulator, 'locals/live', [randomBytes(700)])
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/live'))
    await emulator.waitFor('DONE', 'locals/live')
    const stray = randomBytes(50)
    await call(emulator, 'PUT', `/objects/${sha(stray)}`, stray)
    const answer = await call(emulator, 'POST', '/storage/gc')
    assert.deepEqual(JSON.parse(answer.text), { reclaimed: 50 })
    assert.equal(emulator.hasObject(kept ?? ''), true)
    assert.equal(emulator.hasObject(sha(stray)), false)
  })
})

describe('pv-ctrl emulator: access and protocol', () => {
  it('answers 403 everywhere but /signal when the caller is not mgmt', async t => {
    const emulator = await emulatorFor(t, { notMgmt: true })
    const requests: Array<[string, string]> = [
      ['GET', '/objects'],
      ['PUT', `/objects/${sha('x')}`],
      ['GET', '/steps'],
      ['GET', '/steps/current'],
      ['GET', '/steps/locals/a/progress'],
      ['PUT', '/steps/locals/a/commitmsg'],
      ['POST', '/commands'],
      ['GET', '/device-meta'],
      ['POST', '/storage/gc'],
    ]
    for (const [method, path] of requests) {
      const answer = await call(emulator, method, path, 'x')
      assert.equal(answer.status, 403, `${method} ${path}`)
      assert.match(JSON.parse(answer.text).Error, /^Request not sent from (a )?mgmt platform$/)
    }
    const signal = await call(emulator, 'POST', '/signal', JSON.stringify({ type: 'ready' }))
    assert.equal(signal.status, 200)
  })

  it('answers a non-mgmt caller 400 "Method not supported" where pv-ctrl\'s router does', async t => {
    // pv-ctrl tries `{}` routes newest first and keeps the last refusal: for
    // GET /objects/<sha> and PUT /steps/locals/<name> a same-path route with
    // the other method comes after the mgmt refusal and overwrites it.
    const emulator = await emulatorFor(t, { notMgmt: true })
    for (const [method, path] of [
      ['GET', `/objects/${sha('x')}`],
      ['PUT', '/steps/locals/a'],
    ] as const) {
      const answer = await call(emulator, method, path, 'x')
      assert.equal(answer.status, 400, `${method} ${path}`)
      assert.deepEqual(JSON.parse(answer.text), { Error: 'Method not supported for this endpoint' })
    }
  })

  it('drops a request addressed to another host without answering', async t => {
    const emulator = await emulatorFor(t)
    await assert.rejects(call(emulator, 'GET', '/objects', undefined, { Host: 'example.com' }), {
      message: 'socket hang up',
    })
  })

  it('answers 400 "unknown endpoint: …" for a path it does not serve', async t => {
    const emulator = await emulatorFor(t)
    const answer = await call(emulator, 'GET', '/nope')
    assert.equal(answer.status, 400)
    assert.deepEqual(JSON.parse(answer.text), { Error: 'unknown endpoint: /nope' })
  })

  it('reports revision 0 unquoted in device-meta, as Pantavisor writes JSON-looking values', async t => {
    const emulator = await emulatorFor(t)
    const answer = await call(emulator, 'GET', '/device-meta')
    assert.match(answer.text, /"pantavisor.revision":0[,}]/)
  })
})

describe('pv-ctrl emulator: reboots', () => {
  it('goes away during reboot() and comes back with the trial DONE', async t => {
    const emulator = await emulatorFor(t, {
      trials: { 'locals/hang': { outcome: 'success' } },
      delays: { testingMs: 60_000 },
    })
    await stage(emulator, 'locals/hang', [randomBytes(100)])
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/hang'))
    await emulator.waitFor('TESTING', 'locals/hang')
    const refused = new Promise<unknown>(resolve =>
      emulator.once('down', () => call(emulator, 'GET', '/objects').then(resolve, resolve)),
    )
    await emulator.reboot()
    assert.match(String(((await refused) as NodeJS.ErrnoException).code), /ENOENT|ECONNREFUSED/)
    assert.equal(emulator.progress('locals/hang')?.status, 'DONE')
    assert.equal(await runningRevision(emulator), 'locals/hang')
  })

  it('comes back from reboot() with ERROR "Unexpected rollback" for a hanging revision', async t => {
    // a hang while only containers restart; a rebooting one would be rolled back at once
    const emulator = await emulatorFor(t, {
      trials: { 'locals/hang': { outcome: 'rollback', reboot: false } },
    })
    await stage(emulator, 'locals/hang', [randomBytes(100)])
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN', 'locals/hang'))
    await emulator.waitFor('TESTING', 'locals/hang')
    await emulator.reboot()
    assert.deepEqual(emulator.progress('locals/hang'), {
      status: 'ERROR',
      'status-msg': 'Unexpected rollback',
      progress: 100,
      retries: 0,
    })
    assert.equal(await runningRevision(emulator), 0)
  })

  it("takes the socket down during the trial's own reboot when rebootDuringTrial is set", async t => {
    const emulator = await emulatorFor(t, { rebootDuringTrial: true })
    await stage(emulator, 'locals/k', [randomBytes(100)])
    const events: string[] = []
    emulator.on('down', () => events.push('down'))
    emulator.on('up', () => events.push('up'))
    emulator.on('progress', (e: ProgressEvent) => events.push(e.progress.status))
    await call(emulator, 'POST', '/commands', command('LOCAL_RUN_COMMIT', 'locals/k'))
    await emulator.waitFor('DONE', 'locals/k')
    assert.deepEqual(events, ['INPROGRESS', 'down', 'up', 'INPROGRESS', 'TESTING', 'DONE'])
  })

  it('forgets a command still waiting to be picked up', async t => {
    const emulator = await emulatorFor(t, { delays: { pickupMs: 60_000 } })
    await call(emulator, 'POST', '/commands', command('TRY_ONCE', 'x'))
    await emulator.reboot()
    assert.equal((await call(emulator, 'POST', '/commands', command('TRY_ONCE', 'y'))).status, 200)
  })

  it('is the same device when started again on the same folder after a power cut mid-trial', async t => {
    const dir = mkdtempSync(join(tmpdir(), 'pvctrl-emulator-test-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const first = await startPvCtrlEmulator({ dir, delays: { testingMs: 60_000 } })
    const ids = await stage(first, 'locals/p', [randomBytes(100)])
    await call(first, 'POST', '/commands', command('LOCAL_RUN', 'locals/p'))
    await first.waitFor('TESTING', 'locals/p')
    await first.close()

    const second = await emulatorFor(t, { dir })
    assert.equal(second.progress('locals/p')?.status, 'DONE')
    assert.equal(second.revision, 'locals/p')
    assert.equal(second.hasObject(ids[0] ?? ''), true)
  })

  it('resolves waitFor at once for a status already reached', async t => {
    const emulator = await emulatorFor(t)
    const event = await emulator.waitFor('DONE', '0')
    assert.equal(event.progress['status-msg'], 'Factory revision')
  })
})
