import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import {
  FINAL_STATUSES,
  PvCtrlBadChecksumError,
  PvCtrlBadRequestError,
  PvCtrlBadStateError,
  PvCtrlBusyError,
  PvCtrlClient,
  PvCtrlForbiddenError,
  PvCtrlNoSpaceError,
  PvCtrlNotFoundError,
  PvCtrlProtocolError,
  PvCtrlTimeoutError,
  PvCtrlUnavailableError,
  findPvCtrlSocket,
  isValidLocalName,
  systemClock,
  type PvCtrlClientOptions,
  type PvCtrlClock,
} from '../../src/pantavisor/index.js'
import { revisionFixture } from '../fixtures.js'
import {
  startPvCtrlEmulator,
  type PvCtrlEmulator,
  type PvCtrlEmulatorOptions,
  type RequestEvent,
} from '../sim/pvctrl-emulator.js'
import { rawServer, virtualClock, withExportObject } from './helpers.js'

// web/root.squashfs of rev1 (fixtures/revisions/MANIFEST.md)
const WEB_ROOT_SHA = '64246535c5b832744ad48eba7fa2956920b7667aead15be481474c2eee3dcd5b'
const WEB_ROOT_BYTES = 7_778_304
const SPEC = 'pantavisor-service-system@1'

function sha(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

async function setup(
  t: TestContext,
  emulatorOptions: PvCtrlEmulatorOptions = {},
  clientOptions: PvCtrlClientOptions = {},
): Promise<{ emulator: PvCtrlEmulator; pv: PvCtrlClient; requests: RequestEvent[] }> {
  const emulator = await startPvCtrlEmulator(emulatorOptions)
  t.after(() => emulator.close())
  const requests: RequestEvent[] = []
  emulator.on('request', (event: RequestEvent) => requests.push(event))
  const pv = new PvCtrlClient({ socketPath: emulator.socketPath, ...clientOptions })
  return { emulator, pv, requests }
}

/** Uploads objects and stores a state naming them as `rev`. */
async function stage(pv: PvCtrlClient, rev: string, objects: Buffer[]): Promise<void> {
  const state: Record<string, string> = { '#spec': SPEC }
  for (const [i, object] of objects.entries()) {
    await pv.putObject(sha(object), object.byteLength, once(object))
    state[`app/file${i}`] = sha(object)
  }
  await pv.putStep(rev, Buffer.from(JSON.stringify(state)))
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

describe('findPvCtrlSocket', () => {
  it('returns the first candidate that is a socket, skipping absent paths and plain files', async t => {
    const { emulator } = await setup(t)
    const dir = mkdtempSync(join(tmpdir(), 'pvctrl-find-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const plain = join(dir, 'pv-ctrl')
    writeFileSync(plain, '')
    const found = await findPvCtrlSocket([join(dir, 'absent'), plain, emulator.socketPath])
    assert.equal(found, emulator.socketPath)
  })

  it('throws PvCtrlUnavailableError naming every path tried when none is a socket', async () => {
    const tried = ['/nonexistent/pantavisor/pv-ctrl', '/nonexistent/pv/pv-ctrl']
    const error = await findPvCtrlSocket(tried).catch((err: unknown) => err)
    assert.ok(error instanceof PvCtrlUnavailableError)
    assert.deepEqual(error.tried, tried)
    for (const path of tried) assert.ok(error.message.includes(path), error.message)
  })

  it('lets a client without socketPath find pv-ctrl among its candidates', async t => {
    const { emulator } = await setup(t)
    const pv = new PvCtrlClient({ socketCandidates: ['/nonexistent/pv-ctrl', emulator.socketPath] })
    assert.equal(await pv.runningRevision(), '0')
  })
})

describe('PvCtrlClient objects', () => {
  it('streams a real object out of a pvr export into pv-ctrl and reads it back verified', async t => {
    const { emulator, pv } = await setup(t)
    await withExportObject(revisionFixture('rev1'), WEB_ROOT_SHA, async (size, bytes) => {
      assert.equal(size, WEB_ROOT_BYTES)
      await pv.putObject(WEB_ROOT_SHA, size, bytes)
    })
    assert.deepEqual(await pv.listObjects(), [{ sha256: WEB_ROOT_SHA, size: WEB_ROOT_BYTES }])
    assert.equal(sha(readFileSync(emulator.objectPath(WEB_ROOT_SHA))), WEB_ROOT_SHA)
    const back = await collect(pv.getObject(WEB_ROOT_SHA))
    assert.equal(back.byteLength, WEB_ROOT_BYTES)
    assert.equal(sha(back), WEB_ROOT_SHA)
  })

  it('pulls the source only as fast as pv-ctrl reads (backpressure)', async t => {
    const totalBytes = 64 * 1024 * 1024
    let received = 0
    const { socketPath } = await rawServer(t, (req, res) => {
      // a slow reader: one chunk per turn of the event loop
      req.on('data', (chunk: Buffer) => {
        received += chunk.byteLength
        req.pause()
        setImmediate(() => req.resume())
      })
      req.on('end', () => res.writeHead(200).end())
    })
    let yielded = 0
    let maxLeadBytes = 0
    async function* source(): AsyncGenerator<Uint8Array> {
      const chunkBytes = 64 * 1024
      for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
        yielded += chunkBytes
        maxLeadBytes = Math.max(maxLeadBytes, yielded - received)
        yield Buffer.alloc(chunkBytes, sent / chunkBytes)
      }
    }
    const pv = new PvCtrlClient({ socketPath })
    await pv.putObject(sha('any'), totalBytes, source())
    assert.equal(received, totalBytes)
    assert.ok(maxLeadBytes < 8 * 1024 * 1024, `source ran ${maxLeadBytes} bytes ahead`)
  })

  it('raises PvCtrlBadChecksumError on 422 and the device keeps nothing', async t => {
    const { pv } = await setup(t)
    const wrong = sha('other bytes')
    const error = await pv.putObject(wrong, 5, once(Buffer.from('bytes'))).catch(e => e)
    assert.ok(error instanceof PvCtrlBadChecksumError)
    assert.equal(error.status, 422)
    assert.equal(error.pvMessage, 'Object has bad checksum')
    assert.deepEqual(await pv.listObjects(), [])
  })

  it('raises PvCtrlNoSpaceError on 507 without retrying', async t => {
    const { pv, requests } = await setup(t, { quotaBytes: 1000 })
    const object = randomBytes(5000)
    const error = await pv.putObject(sha(object), 5000, once(object)).catch(e => e)
    assert.ok(error instanceof PvCtrlNoSpaceError)
    assert.equal(error.pvMessage, 'Not enough disk space available')
    assert.equal(requests.filter(r => r.method === 'PUT').length, 1)
  })

  it('finds an object that pv-ctrl accepted with 200 but stored truncated', async t => {
    const { pv } = await setup(t, { quotaBytes: 70_000, objectNoSpaceStatus: 200 })
    const whole = randomBytes(40_000)
    const cut = randomBytes(40_000)
    await pv.putObject(sha(whole), whole.byteLength, once(whole))
    await pv.putObject(sha(cut), cut.byteLength, once(cut))
    const expected = [
      { sha256: sha(whole), size: whole.byteLength },
      { sha256: sha(cut), size: cut.byteLength },
      { sha256: sha('never sent'), size: 10 },
    ]
    assert.deepEqual(await pv.findMissingObjects(expected), expected.slice(1))
  })

  it('refuses a source that yields fewer bytes than declared, and nothing is stored', async t => {
    const { pv, emulator } = await setup(t)
    const object = randomBytes(100)
    const error = await pv.putObject(sha(object), 200, once(object)).catch(e => e)
    assert.ok(error instanceof PvCtrlBadRequestError)
    assert.match(error.message, /yielded 100 bytes, declared 200/)
    assert.equal(emulator.hasObject(sha(object)), false)
  })

  it('raises PvCtrlNotFoundError for an object the device does not hold', async t => {
    const { pv } = await setup(t)
    await assert.rejects(collect(pv.getObject(sha('absent'))), PvCtrlNotFoundError)
  })

  it('raises PvCtrlBadChecksumError when the bytes read do not hash to the id', async t => {
    const { pv, emulator } = await setup(t)
    const object = Buffer.from('original')
    await pv.putObject(sha(object), object.byteLength, once(object))
    writeFileSync(emulator.objectPath(sha(object)), 'tampered')
    await assert.rejects(collect(pv.getObject(sha(object))), PvCtrlBadChecksumError)
  })
})

describe('PvCtrlClient steps', () => {
  it('stores a state and gives back exactly the bytes sent', async t => {
    const { pv } = await setup(t)
    const bytes = Buffer.from(`{"#spec": "${SPEC}",\n  "device.json": {}}`)
    await pv.putStep('locals/exact', bytes)
    assert.deepEqual(Buffer.from(await pv.getStep('locals/exact')), bytes)
  })

  it('lists steps with progress and commit message', async t => {
    const { pv } = await setup(t)
    await pv.putStep('locals/listed', Buffer.from(JSON.stringify({ '#spec': SPEC })))
    await pv.putCommitMessage('locals/listed', 'release 7 "blue"')
    const step = (await pv.listSteps()).find(s => s.name === 'locals/listed')
    assert.equal(step?.commitmsg, 'release 7 "blue"')
    assert.equal((step?.progress as { status: string }).status, 'NEW')
    assert.deepEqual(await pv.getProgress('locals/listed'), {
      status: 'NEW',
      statusMsg: 'Update ready to be run',
      progress: 0,
      retries: 0,
    })
  })

  it('refuses a bad local name before sending anything', async t => {
    const { pv, requests } = await setup(t)
    for (const name of [
      'locals/a/b',
      'mine',
      `locals/${'x'.repeat(65)}`,
      'locals/..',
      'locals/a b',
    ]) {
      assert.equal(isValidLocalName(name), false)
      await assert.rejects(pv.putStep(name, Buffer.from('{}')), PvCtrlBadRequestError)
    }
    assert.equal(requests.length, 0)
  })

  it('raises PvCtrlBadStateError with the Parser message for a state Pantavisor cannot parse', async t => {
    const { pv } = await setup(t)
    const error = await pv.putStep('locals/bad', Buffer.from('{"#spec":"nope@1"}')).catch(e => e)
    assert.ok(error instanceof PvCtrlBadStateError)
    assert.equal(error.pvMessage, 'Parser: State JSON has bad format')
    await assert.rejects(pv.getStep('locals/bad'), PvCtrlNotFoundError)
  })

  it('raises PvCtrlBadStateError with the Secureboot message for a refused signature', async t => {
    const { pv } = await setup(t, {
      trials: { 'locals/unsigned': { rejectOnPut: 'State not fully covered by signatures' } },
    })
    const state = Buffer.from(JSON.stringify({ '#spec': SPEC }))
    const error = await pv.putStep('locals/unsigned', state).catch(e => e)
    assert.ok(error instanceof PvCtrlBadStateError)
    assert.equal(error.pvMessage, 'Secureboot: State not fully covered by signatures')
  })

  it('raises PvCtrlNotFoundError for the progress of an unknown revision', async t => {
    const { pv } = await setup(t)
    await assert.rejects(pv.getProgress('locals/none'), PvCtrlNotFoundError)
  })

  it('refuses a commit message over 256 bytes before sending it', async t => {
    const { pv, requests } = await setup(t)
    await assert.rejects(pv.putCommitMessage('locals/x', 'é'.repeat(129)), PvCtrlBadRequestError)
    assert.equal(requests.length, 0)
  })
})

describe('PvCtrlClient commands', () => {
  it("raises PvCtrlBadRequestError with Pantavisor's message for a command it rejects", async t => {
    const { pv } = await setup(t)
    const error = await pv.runCommand('SELF_DESTRUCT', 'now').catch(e => e)
    assert.ok(error instanceof PvCtrlBadRequestError)
    assert.equal(error.status, 400)
    assert.equal(error.pvMessage, 'Command has bad format')
  })

  it('waits out Retry-After 600 while a trial runs, then queues the command', async t => {
    let emulator: PvCtrlEmulator | undefined
    const { clock, sleeps } = virtualClock(() => emulator?.reboot())
    const setupResult = await setup(
      t,
      {
        trials: {
          'locals/hang': { outcome: 'rollback', reboot: false },
          'locals/next': { reboot: false },
        },
      },
      { clock },
    )
    emulator = setupResult.emulator
    const { pv } = setupResult
    await stage(pv, 'locals/hang', [randomBytes(10)])
    await stage(pv, 'locals/next', [randomBytes(10)])
    await pv.runCommand('LOCAL_RUN', 'locals/hang')
    await emulator.waitFor('TESTING', 'locals/hang')

    await pv.runCommand('LOCAL_RUN', 'locals/next')
    assert.deepEqual(sleeps, [600_000])
    await emulator.waitFor('UPDATED', 'locals/next')
  })

  it('waits out Retry-After 120 while another command is pending', async t => {
    let emulator: PvCtrlEmulator | undefined
    const { clock, sleeps } = virtualClock(() => emulator?.reboot())
    const setupResult = await setup(t, { delays: { pickupMs: 60_000 } }, { clock })
    emulator = setupResult.emulator
    await setupResult.pv.runCommand('TRY_ONCE', 'x')
    await setupResult.pv.runCommand('TRY_ONCE', 'y')
    assert.deepEqual(sleeps, [120_000])
  })

  it('gives up with PvCtrlBusyError once maxBusyWaitMs is spent', async t => {
    const { clock, sleeps } = virtualClock()
    const { emulator, pv } = await setup(
      t,
      { trials: { 'locals/hang': { outcome: 'rollback', reboot: false } } },
      { clock, maxBusyWaitMs: 1_000_000 },
    )
    await stage(pv, 'locals/hang', [randomBytes(10)])
    await pv.runCommand('LOCAL_RUN', 'locals/hang')
    await emulator.waitFor('TESTING', 'locals/hang')
    const error = await pv.runCommand('LOCAL_RUN', 'locals/hang').catch(e => e)
    assert.ok(error instanceof PvCtrlBusyError)
    assert.equal(error.retryAfterMs, 600_000)
    assert.equal(error.pvMessage, 'Cannot do this operation while update is ongoing')
    assert.deepEqual(sleeps, [600_000, 400_000])
  })

  it('stops waiting with PvCtrlBusyError when aborted', async t => {
    const controller = new AbortController()
    // the system clock, aborted as soon as the client starts waiting out the 600 s
    const clock: PvCtrlClock = {
      now: () => systemClock.now(),
      sleep: (ms, signal) => {
        controller.abort()
        return systemClock.sleep(ms, signal)
      },
    }
    const { emulator, pv } = await setup(
      t,
      { trials: { 'locals/hang': { outcome: 'rollback', reboot: false } } },
      { signal: controller.signal, clock },
    )
    await stage(pv, 'locals/hang', [randomBytes(10)])
    await pv.runCommand('LOCAL_RUN', 'locals/hang')
    await emulator.waitFor('TESTING', 'locals/hang')
    const started = performance.now()
    const error = await pv.runCommand('LOCAL_RUN', 'locals/hang').catch(e => e)
    assert.ok(error instanceof PvCtrlBusyError)
    assert.match(error.message, /aborted while waiting/)
    assert.equal((error.cause as Error).name, 'AbortError')
    assert.ok(performance.now() - started < 5000)
  })

  it('sleeps for real as long as a short Retry-After says', async t => {
    const { emulator, pv } = await setup(t, {
      retryAfterSeconds: { updateRunning: 1 },
      delays: { testingMs: 300 },
      // container-only trials: the socket stays up while the second command waits
      trials: { 'locals/first': { reboot: false }, 'locals/second': { reboot: false } },
    })
    await stage(pv, 'locals/first', [randomBytes(10)])
    await stage(pv, 'locals/second', [randomBytes(10)])
    await pv.runCommand('LOCAL_RUN', 'locals/first')
    await emulator.waitFor('INPROGRESS', 'locals/first')
    const started = performance.now()
    await pv.runCommand('LOCAL_RUN', 'locals/second')
    assert.ok(performance.now() - started >= 950, 'queued before Retry-After elapsed')
    assert.equal(
      (await pv.waitForTrialOutcome('locals/second', { intervalMs: 10 })).status,
      'UPDATED',
    )
  })
})

describe('PvCtrlClient trial outcome', () => {
  const outcomes: Array<[string, string, PvCtrlEmulatorOptions, string, string]> = [
    [
      'UPDATED for LOCAL_RUN without a reboot',
      'LOCAL_RUN',
      { trials: { 'locals/r': { reboot: false } } },
      'UPDATED',
      'locals/r',
    ],
    ['DONE for LOCAL_RUN of a first install (reboots)', 'LOCAL_RUN', {}, 'DONE', 'locals/r'],
    ['DONE for LOCAL_RUN_COMMIT', 'LOCAL_RUN_COMMIT', {}, 'DONE', 'locals/r'],
    [
      'ERROR for a failing trial',
      'LOCAL_RUN',
      { trials: { 'locals/r': { outcome: 'error' } } },
      'ERROR',
      '0',
    ],
    [
      'WONTGO for a refused revision',
      'LOCAL_RUN',
      { trials: { 'locals/r': { outcome: 'wontgo' } } },
      'WONTGO',
      '0',
    ],
  ]
  for (const [name, op, options, status, running] of outcomes) {
    it(`polls progress to ${name} and reads the running revision`, async t => {
      const { pv } = await setup(t, options)
      await stage(pv, 'locals/r', [randomBytes(64)])
      await pv.runCommand(op, 'locals/r')
      const outcome = await pv.waitForTrialOutcome('locals/r', { intervalMs: 5 })
      assert.equal(outcome.status, status)
      assert.ok(FINAL_STATUSES.has(outcome.status))
      assert.equal(await pv.runningRevision(), running)
    })
  }

  it('keeps polling through a reboot and reads the outcome afterwards', async t => {
    let emulator: PvCtrlEmulator | undefined
    let sleptWhileDown = 0
    const clock = {
      now: () => performance.now(),
      sleep: async (ms: number) => {
        if (emulator?.isUp === false) sleptWhileDown += 1
        await new Promise(resolve => setTimeout(resolve, ms))
      },
    }
    const setupResult = await setup(
      t,
      { trials: { 'locals/hang': { outcome: 'rollback', reboot: false } } },
      { clock },
    )
    emulator = setupResult.emulator
    const { pv } = setupResult
    await stage(pv, 'locals/hang', [randomBytes(64)])
    await pv.runCommand('LOCAL_RUN', 'locals/hang')
    await emulator.waitFor('TESTING', 'locals/hang')
    const outcome = pv.waitForTrialOutcome('locals/hang', { intervalMs: 5 })
    await emulator.reboot({ downMs: 150 })
    const result = await outcome
    assert.deepEqual([result.status, result.statusMsg], ['ERROR', 'Unexpected rollback'])
    assert.ok(sleptWhileDown > 0, 'no poll happened while pv-ctrl was down')
    assert.equal(await pv.runningRevision(), '0')
  })
})

describe('PvCtrlClient device and storage', () => {
  it('reads the running revision even when Pantavisor sends it as a number', async t => {
    const { pv } = await setup(t)
    const meta = await pv.deviceMeta()
    assert.equal(meta['pantavisor.revision'], 0)
    assert.equal(await pv.runningRevision(), '0')
  })

  it('shows the GC hazard: objects uploaded but not yet run are reclaimed', async t => {
    const { pv, emulator } = await setup(t)
    const objects = [randomBytes(1234), randomBytes(4321)]
    await stage(pv, 'locals/pending', objects)
    assert.deepEqual(await pv.storageGc(), { reclaimed: 5555 })
    assert.deepEqual(await pv.listObjects(), [])
    await assert.rejects(pv.getStep('locals/pending'), PvCtrlNotFoundError)
    await pv.runCommand('LOCAL_RUN', 'locals/pending')
    await emulator.waitFor('WONTGO', 'locals/pending')
    const outcome = await pv.getProgress('locals/pending')
    assert.deepEqual([outcome.status, outcome.statusMsg], ['WONTGO', 'State JSON not found'])
  })
})

describe('PvCtrlClient failures', () => {
  it('explains a 403: the container needs the mgmt role', async t => {
    const { pv } = await setup(t, { notMgmt: true })
    const error = await pv.listSteps().catch(e => e)
    assert.ok(error instanceof PvCtrlForbiddenError)
    assert.equal(error.status, 403)
    assert.equal(error.pvMessage, 'Request not sent from a mgmt platform')
    assert.ok(error.message.includes('"roles":["mgmt"]'), error.message)
  })

  it('reads pv-ctrl\'s "Method not supported" answer to a non-mgmt caller as forbidden', async t => {
    const { pv } = await setup(t, { notMgmt: true })
    const state = Buffer.from(JSON.stringify({ '#spec': SPEC }))
    await assert.rejects(pv.putStep('locals/a', state), PvCtrlForbiddenError)
    await assert.rejects(collect(pv.getObject(sha('x'))), PvCtrlForbiddenError)
  })

  it('raises PvCtrlUnavailableError when nothing listens on the socket', async t => {
    const dir = mkdtempSync(join(tmpdir(), 'pvctrl-none-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'plain'), '')
    for (const socketPath of [join(dir, 'absent'), join(dir, 'plain')]) {
      const pv = new PvCtrlClient({ socketPath })
      await assert.rejects(pv.listObjects(), PvCtrlUnavailableError)
    }
  })

  it('raises PvCtrlProtocolError for an answer that is not JSON', async t => {
    const { socketPath } = await rawServer(t, (_req, res) => res.end('<html>'))
    await assert.rejects(new PvCtrlClient({ socketPath }).listObjects(), PvCtrlProtocolError)
  })

  it('raises PvCtrlTimeoutError when pv-ctrl goes silent', async t => {
    const { socketPath } = await rawServer(t, () => undefined)
    const pv = new PvCtrlClient({ socketPath, requestTimeoutMs: 100 })
    await assert.rejects(pv.deviceMeta(), PvCtrlTimeoutError)
  })
})
