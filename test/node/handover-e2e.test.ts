import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { after, before, describe, it } from 'node:test'
import type { DaemonConfig } from '../../src/node/config.js'
import type { RunningDevice } from '../../src/node/daemon.js'
import { dropSeedRequest, readSeedResult } from '../../src/node/incoming.js'
import {
  HandoverBusyError,
  HandoverRefusedError,
  localRevisionName,
  PvCtrlClient,
  type HandoverOutcome,
} from '../../src/pantavisor/index.js'
import {
  encodeRelease,
  generateReleaseKey,
  releaseId,
  type Release,
} from '../../src/release/index.js'
import { revisionFixture } from '../fixtures.js'
import {
  startPvCtrlEmulator,
  type PvCtrlEmulator,
  type PvCtrlEmulatorOptions,
  type RequestEvent,
} from '../sim/pvctrl-emulator.js'
import {
  addressOf,
  capturedLogger,
  fixtureRelease,
  tempDir,
  testFloor,
  type TestFloor,
} from './device-helpers.js'

// Whole devices (store, libp2p on loopback, exchange, hand-over) each talking
// to its own emulated pv-ctrl, with the real fixture revisions.

const FAST_DELAYS = { pickupMs: 5, inProgressMs: 10, testingMs: 10, rebootDownMs: 10 }
const POLL = { trialPollIntervalMs: 20 }
// a hung hand-over fails its test instead of stalling the run
const TIMEOUT_MS = 20_000

type Hooks = { after(fn: () => Promise<void>): void }

/** An emulated Pantavisor with its answered requests recorded. */
interface Pv {
  emulator: PvCtrlEmulator
  requests: RequestEvent[]
  /** requests of `method` whose path starts with `prefix` */
  count(method: string, prefix: string): number
}

async function startPv(
  t: Hooks,
  dir: string,
  name: string,
  options: PvCtrlEmulatorOptions = {},
): Promise<Pv> {
  const emulator = await startPvCtrlEmulator({
    dir: join(dir, name),
    ...options,
    delays: { ...FAST_DELAYS, ...options.delays },
  })
  const requests: RequestEvent[] = []
  emulator.on('request', (event: RequestEvent) => requests.push(event))
  t.after(() => emulator.close())
  return {
    emulator,
    requests,
    count: (method, prefix) =>
      requests.filter(r => r.method === method && r.path.startsWith(prefix)).length,
  }
}

function startWithPv(
  floor: TestFloor,
  name: string,
  pv: Pv,
  overrides: Partial<DaemonConfig> = {},
): Promise<RunningDevice> {
  return floor.start(name, { pvctrl: pv.emulator.socketPath, ...overrides }, POLL)
}

/**
 * Resolves with the release's settled phase: at once when the release book has
 * it, else on the daemon's `release:settled` (copies dropped by then). Call it
 * before whatever starts the hand-over when the dropped copies matter.
 */
function settled(running: RunningDevice, id: string): Promise<HandoverOutcome['result']> {
  const phase = running.device.releases.record(id)?.phase
  if (phase === 'installed' || phase === 'failed') return Promise.resolve(phase)
  return new Promise(resolve => {
    const listener = (event: { id: string; outcome: HandoverOutcome }): void => {
      if (event.id !== id) return
      running.device.off('release:settled', listener)
      resolve(event.outcome.result)
    }
    running.device.on('release:settled', listener)
  })
}

function completed(running: RunningDevice, id: string) {
  return new Promise<{ bytesReceivedByPeer: Record<string, number> } | undefined>(resolve => {
    running.device.on('download:complete', event => {
      if (event.id === id) resolve(event.stats)
    })
  })
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

/** The step as Pantavisor stored it (`trails/<rev>/.pvr/json`). */
function storedStep(pv: Pv, localName: string): Promise<Buffer> {
  return readFile(join(pv.emulator.dir, 'trails', localName, '.pvr', 'json'))
}

async function runningRevision(pv: Pv): Promise<string | undefined> {
  return new PvCtrlClient({ socketPath: pv.emulator.socketPath }).runningRevision()
}

async function assertHoldsRelease(pv: Pv, release: Release, id: string): Promise<void> {
  for (const object of release.objects) {
    const path = pv.emulator.objectPath(object.sha256)
    assert.equal(await sha256OfFile(path), object.sha256, `${path} holds its object`)
  }
  const localName = localRevisionName(release, id)
  const step = await storedStep(pv, localName)
  assert.ok(step.equals(Buffer.from(release.revision.state)), `${localName} stored byte for byte`)
  assert.equal(await runningRevision(pv), localName)
}

/** Local HH:MM-HH:MM window that opens two hours from now: closed for the whole test. */
function closedWindow(): string {
  const at = (hours: number): string => {
    const when = new Date(Date.now() + hours * 3_600_000)
    const pad = (n: number): string => String(n).padStart(2, '0')
    return `${pad(when.getHours())}:${pad(when.getMinutes())}`
  }
  return `${at(2)}-${at(3)}`
}

describe('hand-over across a swarm of devices', () => {
  // cleanups registered while the suite sets up, run once it ends (last registered first)
  const cleanups: Array<() => Promise<void>> = []
  const hooks: Hooks = { after: fn => void cleanups.unshift(fn) }
  after(async () => {
    for (const cleanup of cleanups) await cleanup()
  })
  let floor: TestFloor
  let pvDir: string
  const names = ['seed', 'peer1', 'peer2'] as const
  const devices = new Map<string, RunningDevice>()
  const pvs = new Map<string, Pv>()
  const device = (name: string): RunningDevice => devices.get(name)!
  const pv = (name: string): Pv => pvs.get(name)!

  before(async () => {
    floor = await testFloor(hooks)
    pvDir = await tempDir(hooks, 'handover-e2e-pv')
    for (const name of names) pvs.set(name, await startPv(hooks, pvDir, name))
    const seed = await startWithPv(floor, 'seed', pv('seed'))
    devices.set('seed', seed)
    const peer1 = await startWithPv(floor, 'peer1', pv('peer1'), { peer: [addressOf(seed)] })
    devices.set('peer1', peer1)
    devices.set(
      'peer2',
      await startWithPv(floor, 'peer2', pv('peer2'), { peer: [addressOf(seed), addressOf(peer1)] }),
    )
  })

  it(
    'installs a seeded release on every device, each emulator holding all of it',
    { timeout: TIMEOUT_MS },
    async () => {
      const release = await fixtureRelease('rev1', floor.key, 1)
      const id = releaseId(release)
      const outcomes = names.map(name => settled(device(name), id))
      await device('seed').device.seed(release, revisionFixture('rev1'))

      assert.deepEqual(await Promise.all(outcomes), ['installed', 'installed', 'installed'])
      for (const name of names) {
        assert.equal(device(name).device.releases.record(id)?.phase, 'installed', name)
        await assertHoldsRelease(pv(name), release, id)
        assert.equal(pv(name).count('PUT', '/objects/'), release.objects.length, name)
        assert.equal(pv(name).count('POST', '/commands'), 1, name)
      }
    },
  )

  it(
    'uploads only the 2 changed objects of rev2 to each emulator',
    { timeout: TIMEOUT_MS },
    async () => {
      for (const name of names) pv(name).requests.length = 0
      const release = await fixtureRelease('rev2', floor.key, 2)
      const id = releaseId(release)
      const outcomes = names.map(name => settled(device(name), id))
      await device('seed').device.seed(release, revisionFixture('rev2'))

      assert.deepEqual(await Promise.all(outcomes), ['installed', 'installed', 'installed'])
      for (const name of names) {
        assert.equal(pv(name).count('PUT', '/objects/'), 2, `${name} got only the changed objects`)
        await assertHoldsRelease(pv(name), release, id)
      }
    },
  )

  it(
    'records a failed trial on one device, never retries it, and leaves the others be',
    { timeout: TIMEOUT_MS },
    async () => {
      const release = await fixtureRelease('rev3', floor.key, 3)
      const id = releaseId(release)
      const localName = localRevisionName(release, id)
      const previous = await runningRevision(pv('peer1'))
      pv('peer1').emulator.setTrialScript(localName, {
        outcome: 'error',
        statusMsg: 'web exited',
      })
      const outcomes = names.map(name => settled(device(name), id))
      await device('seed').device.seed(release, revisionFixture('rev3'))

      assert.deepEqual(await Promise.all(outcomes), ['installed', 'failed', 'installed'])
      const failed = (await device('peer1').device.releases.deviceState()).failedReleases[id]
      assert.match(failed?.reason ?? '', /ERROR: web exited/)
      assert.equal(await runningRevision(pv('peer1')), previous)
      await assertHoldsRelease(pv('seed'), release, id)
      await assertHoldsRelease(pv('peer2'), release, id)

      // the device restarts on the same data and the same Pantavisor
      await device('peer1').stop()
      const steps = pv('peer1').count('PUT', '/steps/')
      const commands = pv('peer1').count('POST', '/commands')
      const restarted = await startWithPv(floor, 'peer1', pv('peer1'), {
        peer: [addressOf(device('seed'))],
      })
      devices.set('peer1', restarted)
      assert.equal(await restarted.handover?.resume(), undefined, 'nothing to resume')
      // hearing of the release again from a peer changes nothing
      assert.equal(await restarted.device.offer(encodeRelease(release), 'test'), 'known')
      await assert.rejects(restarted.handover!.handOver(release), HandoverRefusedError)

      assert.equal(restarted.device.releases.record(id)?.phase, 'failed')
      assert.equal(pv('peer1').count('PUT', '/steps/'), steps)
      assert.equal(pv('peer1').count('POST', '/commands'), commands)
      assert.equal(await runningRevision(pv('peer1')), previous)
      for (const name of ['seed', 'peer2']) {
        assert.equal(device(name).device.releases.record(id)?.phase, 'installed', name)
      }
    },
  )
})

describe('hand-over across restarts', () => {
  it(
    'concludes a trial it was stopped in the middle of, without uploading or running again',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pv = await startPv(t, await tempDir(t, 'handover-e2e-pv'), 'pv', {
        delays: { testingMs: 1_000 },
      })
      const release = await fixtureRelease('rev1', floor.key, 1)
      const id = releaseId(release)
      const localName = localRevisionName(release, id)
      const first = await startWithPv(floor, 'device', pv)
      const testing = pv.emulator.waitFor('TESTING', localName)
      void first.device.seed(release, revisionFixture('rev1')).catch(() => {})
      await testing
      await first.stop()
      const uploads = pv.count('PUT', '/objects/')
      const steps = pv.count('PUT', '/steps/')
      assert.equal(uploads, release.objects.length)
      assert.equal(pv.emulator.progress(localName)?.status, 'TESTING', 'stopped mid-trial')

      const second = await startWithPv(floor, 'device', pv)
      assert.equal(await settled(second, id), 'installed')
      const record = await second.handover?.status()
      assert.equal(record?.outcome?.status, 'DONE')
      assert.equal(pv.count('PUT', '/objects/'), uploads)
      assert.equal(pv.count('PUT', '/steps/'), steps)
      assert.equal(pv.count('POST', '/commands'), 1)
      assert.equal(await runningRevision(pv), localName)
    },
  )

  it(
    'concludes DONE after the trial reboots the device in TESTING',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pv = await startPv(t, await tempDir(t, 'handover-e2e-pv'), 'pv', {
        delays: { testingMs: 60_000 },
      })
      const release = await fixtureRelease('rev1', floor.key, 1)
      const id = releaseId(release)
      const localName = localRevisionName(release, id)
      const first = await startWithPv(floor, 'device', pv)
      const testing = pv.emulator.waitFor('TESTING', localName)
      void first.device.seed(release, revisionFixture('rev1')).catch(() => {})
      await testing

      // the reboot takes the daemon down with it; it starts again before pv-ctrl is back
      await first.stop()
      const rebooted = pv.emulator.reboot({ downMs: 300 })
      const second = await startWithPv(floor, 'device', pv)
      await rebooted
      assert.equal(await settled(second, id), 'installed')
      const record = await second.handover?.status()
      assert.equal(record?.outcome?.status, 'DONE')
      assert.equal(record?.outcome?.runningRevision, localName)
      assert.equal(pv.count('POST', '/commands'), 1)
    },
  )
})

describe('a restart between the trial outcome and the release book', () => {
  it(
    'settles a failure the hand-over recorded but the book missed',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pv = await startPv(t, await tempDir(t, 'handover-e2e-pv'), 'pv')
      const release = await fixtureRelease('rev1', floor.key, 1)
      const id = releaseId(release)
      pv.emulator.setTrialScript(localRevisionName(release, id), { outcome: 'error' })
      const first = await startWithPv(floor, 'device', pv)
      const failed = settled(first, id)
      await first.device.seed(release, revisionFixture('rev1'))
      assert.equal(await failed, 'failed')
      // as if the daemon died after the hand-over saved its outcome, before the book did
      await first.device.releases.setPhase(id, 'complete')
      await first.stop()
      const commands = pv.count('POST', '/commands')

      const second = await startWithPv(floor, 'device', pv)
      assert.equal(await settled(second, id), 'failed')
      assert.equal(second.device.releases.record(id)?.phase, 'failed')
      assert.equal(pv.count('POST', '/commands'), commands)
    },
  )
})

describe('no second copy', () => {
  it(
    'drops the store copies after install and still serves every object to a late device',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pv = await startPv(t, await tempDir(t, 'handover-e2e-pv'), 'pv')
      const release = await fixtureRelease('rev1', floor.key, 1)
      const id = releaseId(release)
      const holder = await startWithPv(floor, 'holder', pv)
      const installed = settled(holder, id)
      await holder.device.seed(release, revisionFixture('rev1'))
      assert.equal(await installed, 'installed')
      for (const object of release.objects) {
        assert.equal(
          await holder.device.store.has(object.sha256),
          false,
          `${object.sha256} dropped`,
        )
      }

      const late = await floor.start('late', { peer: [addressOf(holder)], pvctrl: 'none' })
      const stats = await completed(late, id)
      for (const object of release.objects) {
        assert.equal(await late.device.store.verifyObject(object.sha256), 'good', object.sha256)
      }
      const total = release.objects.reduce((sum, object) => sum + object.size, 0)
      assert.equal(stats?.bytesReceivedByPeer[holder.device.peerId.toString()], total)
      assert.ok(pv.count('GET', '/objects/') > 0, 'objects read from Pantavisor')
    },
  )
})

describe('untrusted releases', () => {
  it(
    'lets a release signed by an untrusted key reach no store and no Pantavisor',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const stranger = generateReleaseKey()
      const release = await fixtureRelease('rev1', stranger, 1)
      const id = releaseId(release)
      const dir = await tempDir(t, 'handover-e2e-pv')
      // a device that (wrongly) trusts the stranger spreads it; the others must not take it
      const rogue = await floor.start('rogue', { trust: [floor.key.publicKey, stranger.publicKey] })
      await rogue.device.seed(release, revisionFixture('rev1'))

      const pvs = [await startPv(t, dir, 'a'), await startPv(t, dir, 'b')]
      const devices: RunningDevice[] = []
      for (const [index, pv] of pvs.entries()) {
        const running = await startWithPv(floor, `device${index}`, pv, { peer: [addressOf(rogue)] })
        const [refusal] = (await once(running.device, 'release:refused')) as [{ id: string }]
        assert.equal(refusal.id, id)
        devices.push(running)
      }
      // and seeded by hand it is refused too
      await assert.rejects(devices[0]!.device.seed(release, revisionFixture('rev1')), /trusted/)

      for (const [index, running] of devices.entries()) {
        assert.deepEqual(await running.device.store.listReleaseIds(), [])
        assert.deepEqual(await running.device.store.list(), [])
        assert.equal(pvs[index]!.count('PUT', '/'), 0)
        assert.equal(pvs[index]!.count('POST', '/'), 0)
        assert.equal(pvs[index]!.emulator.hasObject(release.objects[0]!.sha256), false)
      }
    },
  )
})

describe('releases travel ahead of hand-overs', () => {
  it(
    'passes a release on and answers a seed while its own hand-over waits for a window',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pv = await startPv(t, await tempDir(t, 'handover-e2e-pv'), 'pv')
      const release = await fixtureRelease('rev1', floor.key, 1)
      const waiting = await startWithPv(floor, 'waiting', pv, { handover: closedWindow() })
      const late = await floor.start('late', { peer: [addressOf(waiting)] })
      const lateDone = completed(late, releaseId(release))

      const windowWait = once(waiting.handover!, 'waiting')
      const answered = once(waiting.seeds, 'result')
      const id = await dropSeedRequest(
        waiting.device.store.dataDir,
        release,
        revisionFixture('rev1'),
      )
      await answered
      assert.equal((await readSeedResult(waiting.device.store.dataDir, id))?.ok, true)
      await windowWait

      await lateDone
      assert.equal(late.device.releases.record(id)?.phase, 'complete')
      assert.equal(waiting.device.releases.record(id)?.phase, 'complete')
      assert.equal(pv.count('PUT', '/'), 0, 'nothing handed over outside the window')
    },
  )
})

describe('a newer release during a trial', () => {
  it(
    'hands the newer release over once the trial under way ends',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pv = await startPv(t, await tempDir(t, 'handover-e2e-pv'), 'pv', {
        delays: { testingMs: 60_000 },
      })
      const rev1 = await fixtureRelease('rev1', floor.key, 1)
      const rev2 = await fixtureRelease('rev2', floor.key, 2)
      const device = await startWithPv(floor, 'device', pv)
      const first = settled(device, releaseId(rev1))
      const second = settled(device, releaseId(rev2))
      const testing = pv.emulator.waitFor('TESTING', localRevisionName(rev1, releaseId(rev1)))
      await device.device.seed(rev1, revisionFixture('rev1'))
      await testing

      const rev2Complete = completed(device, releaseId(rev2))
      await device.device.seed(rev2, revisionFixture('rev2'))
      await rev2Complete
      // queued behind the daemon's own attempt, so that one met the trial under way too
      await assert.rejects(device.handover!.handOver(rev2), HandoverBusyError)
      await pv.emulator.reboot()
      assert.equal(await first, 'installed')

      await pv.emulator.waitFor('TESTING', localRevisionName(rev2, releaseId(rev2)))
      await pv.emulator.reboot()
      assert.equal(await second, 'installed')
      assert.equal(await runningRevision(pv), localRevisionName(rev2, releaseId(rev2)))
      assert.equal(pv.count('POST', '/commands'), 2)
    },
  )
})

describe('a pv-ctrl that is not there yet', () => {
  it(
    'hands the release over once pv-ctrl answers, without a restart',
    { timeout: TIMEOUT_MS },
    async t => {
      const floor = await testFloor(t)
      const pvDir = await tempDir(t, 'handover-e2e-pv')
      const socketPath = join(pvDir, 'late-pv-ctrl')
      const lines: Array<Record<string, unknown>> = []
      const { logger, sink } = capturedLogger(lines)
      const device = await floor.start(
        'device',
        { pvctrl: socketPath },
        { ...POLL, logger, handoverRetryMs: 50 },
      )
      const release = await fixtureRelease('rev1', floor.key, 1)
      const id = releaseId(release)
      const outcome = settled(device, id)
      await device.device.seed(release, revisionFixture('rev1'))
      const failedOnce = (): boolean =>
        lines.some(line =>
          String(line['msg']).startsWith('hand-over failed: pv-ctrl did not answer'),
        )
      while (!failedOnce()) await once(sink, 'line')

      const pv = await startPv(t, pvDir, 'pv', { socketPath })
      assert.equal(await outcome, 'installed')
      await assertHoldsRelease(pv, release, id)
    },
  )
})
