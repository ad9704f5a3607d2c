import assert from 'node:assert/strict'
import { readFile, readdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  HandoverBusyError,
  HandoverDisabledError,
  HandoverNoSpaceError,
  HandoverObjectRejectedError,
  HandoverRefusedError,
  HandoverStoppedError,
  PvCtrlClient,
  PvCtrlForbiddenError,
  type HandoverOutcome,
  type HandoverPoint,
  type HandoverRecord,
} from '../../src/pantavisor/index.js'
import { releaseId } from '../../src/release/index.js'
import { signedFixtureRelease } from '../release/helpers.js'
import type { PvCtrlEmulatorOptions } from '../sim/pvctrl-emulator.js'
import { Killed, sha256OfFile, testDevice } from './handover-helpers.js'

const REV2_NEW_OBJECTS = [
  '72d1f3a1da68ee00b8a02c703547b1b4e52c0ff4373f3c3ede299b055663c528',
  'e07ecdef98b621439fcfea7b61ff92d86cae34468f2503726a2d28cd218f44b2',
]
const LOCAL_1 = 'locals/pvswarm-line-1-1'

async function rev1() {
  return (await signedFixtureRelease({ name: 'rev1', fleet: 'line-1', sequence: 1 })).release
}

async function rev2() {
  return (await signedFixtureRelease({ name: 'rev2', fleet: 'line-1', sequence: 2 })).release
}

describe('hand-over to Pantavisor', () => {
  it('uploads every object and the exact state, runs it, and records the release installed', async t => {
    const device = await testDevice(t)
    const release = await rev1()
    const id = releaseId(release)
    const handover = device.handover()
    const installed: HandoverOutcome[] = []
    handover.on('installed', outcome => installed.push(outcome))

    const outcome = await handover.handOver(release)

    assert.equal(outcome.result, 'installed')
    // a first install changes the BSP: Pantavisor takes the reboot path
    assert.equal(outcome.status, 'DONE')
    assert.equal(outcome.localName, LOCAL_1)
    assert.equal(outcome.runningRevision, LOCAL_1)
    assert.deepEqual(installed, [outcome])
    for (const object of release.objects) {
      assert.equal(await sha256OfFile(device.emulator.objectPath(object.sha256)), object.sha256)
    }
    const stored = await readFile(join(device.emulator.dir, 'trails', LOCAL_1, '.pvr', 'json'))
    assert.ok(stored.equals(Buffer.from(release.revision.state, 'utf8')))
    assert.equal(device.emulator.revision, LOCAL_1)

    const state = await device.store.readDeviceState()
    assert.equal(state.fleets['line-1']?.installedReleaseId, id)
    assert.equal(state.fleets['line-1']?.installedSequence, 1)
    assert.equal((await handover.status())?.phase, 'concluded')
    assert.equal(device.count('PUT', '/objects/', 200), release.objects.length)
    assert.equal(device.count('PUT', '/steps/'), 1)
    assert.equal(device.count('POST', '/commands'), 1)
    assert.equal(device.count('POST', '/storage/gc'), 0)
  })

  it('sends only the objects Pantavisor lacks: rev2 after rev1 uploads two', async t => {
    const device = await testDevice(t)
    const handover = device.handover()
    await handover.handOver(await rev1())
    const before = device.count('PUT', '/objects/')

    const release = await rev2()
    const outcome = await handover.handOver(release)

    assert.equal(outcome.result, 'installed')
    const uploaded = device.requests
      .filter(r => r.method === 'PUT' && r.path.startsWith('/objects/'))
      .slice(before)
      .map(r => r.path.slice('/objects/'.length))
      .sort()
    assert.deepEqual(uploaded, REV2_NEW_OBJECTS)
    assert.equal(device.emulator.revision, 'locals/pvswarm-line-1-2')
    const state = await device.store.readDeviceState()
    assert.equal(state.fleets['line-1']?.installedSequence, 2)
  })

  it('LOCAL_RUN_COMMIT through the trial’s own reboot ends DONE', async t => {
    const device = await testDevice(t, { rebootDuringTrial: true })
    const downs: number[] = []
    device.emulator.on('down', () => downs.push(Date.now()))

    const outcome = await device.handover({ runCommand: 'LOCAL_RUN_COMMIT' }).handOver(await rev1())

    assert.equal(downs.length, 1, 'the socket went away during the trial')
    assert.equal(outcome.status, 'DONE')
    assert.equal(device.emulator.revision, LOCAL_1)
    assert.equal(device.emulator.progress(LOCAL_1)?.status, 'DONE')
  })

  it('records a trial that ends in ERROR as failed, and never runs it again', async t => {
    const device = await testDevice(t, {
      trials: { [LOCAL_1]: { outcome: 'error', statusMsg: 'container web exited' } },
    })
    const release = await rev1()
    const id = releaseId(release)
    const failures: HandoverOutcome[] = []
    const handover = device.handover()
    handover.on('failed', outcome => failures.push(outcome))

    const outcome = await handover.handOver(release)

    assert.equal(outcome.result, 'failed')
    assert.equal(outcome.status, 'ERROR')
    assert.equal(outcome.statusMsg, 'container web exited')
    assert.equal(outcome.runningRevision, '0')
    assert.deepEqual(failures, [outcome])
    const failed = (await device.store.readDeviceState()).failedReleases[id]
    assert.equal(failed?.reason, 'ERROR: container web exited')
    assert.equal(failed?.revisionSha256, release.revision.sha256)

    await handover.stop()
    await device.reopenStore()
    const requestsBefore = device.requests.length
    const restarted = device.handover()
    assert.equal(await restarted.resume(), undefined)
    await assert.rejects(restarted.handOver(release), HandoverRefusedError)
    assert.equal(device.requests.length, requestsBefore, 'nothing was asked of Pantavisor')
    assert.equal(device.count('POST', '/commands'), 1)
    assert.equal(device.emulator.revision, '0')
    assert.equal(await device.client.runningRevision(), '0')
  })

  it('records a revision Pantavisor refuses to run (WONTGO) as failed with its message', async t => {
    const device = await testDevice(t, {
      trials: { [LOCAL_1]: { outcome: 'wontgo', statusMsg: 'Signature validation failed' } },
    })
    const release = await rev1()

    const outcome = await device.handover().handOver(release)

    assert.equal(outcome.result, 'failed')
    assert.equal(outcome.status, 'WONTGO')
    const failed = (await device.store.readDeviceState()).failedReleases[releaseId(release)]
    assert.equal(failed?.reason, 'WONTGO: Signature validation failed')
    assert.equal(device.emulator.revision, '0')
  })

  it('refuses a second release while the first one’s trial is under way', async t => {
    const device = await testDevice(t)
    const [first, second] = [await rev1(), await rev2()]
    let refusal: unknown
    const handover = device.handover({
      atStep: async point => {
        if (point === 'command-sent') refusal = await handover.handOver(second).catch(e => e)
      },
    })

    const outcome = await handover.handOver(first)

    assert.equal(outcome.sequence, 1)
    assert.ok(refusal instanceof HandoverBusyError)
    assert.match(refusal.message, /is being handed over \(running\)/)
  })

  it('records a state Pantavisor refuses on PUT /steps (422 Secureboot) as failed, runs nothing', async t => {
    const device = await testDevice(t, { trials: { [LOCAL_1]: { rejectOnPut: 'bad signature' } } })
    const release = await rev1()

    const outcome = await device.handover().handOver(release)

    assert.equal(outcome.result, 'failed')
    assert.equal(outcome.status, 'REJECTED')
    assert.equal(outcome.statusMsg, 'Secureboot: bad signature')
    assert.match(
      (await device.store.readDeviceState()).failedReleases[releaseId(release)]?.reason ?? '',
      /Secureboot: bad signature/,
    )
    assert.equal(device.count('POST', '/commands'), 0)
  })

  it('on 422 bad checksum re-verifies the store copy, quarantines it, and stops clearly', async t => {
    const device = await testDevice(t)
    const release = await rev1()
    const victim = '1ee5e9b4d80d2caf14e54d73c8f18b99beea4069626497456fe27056dd9b9835'
    // replace the (hard-linked) file rather than write into it: same size, one byte changed
    const path = join(device.dataDir, 'objects', victim)
    const bytes = await readFile(path)
    bytes[1000] = bytes[1000]! ^ 0xff
    await writeFile(`${path}.new`, bytes)
    await rename(`${path}.new`, path)

    const handover = device.handover()
    const err = await handover.handOver(release).then(
      () => assert.fail('expected the hand-over to fail'),
      (e: unknown) => e,
    )

    assert.ok(err instanceof HandoverObjectRejectedError)
    assert.equal(err.sha256, victim)
    assert.equal(err.storeCopy, 'bad')
    assert.match(err.message, /quarantined and must be fetched again/)
    assert.equal(await device.store.has(victim), false)
    const quarantine = await readdir(join(device.dataDir, 'quarantine'))
    assert.ok(quarantine.some(name => name.startsWith(victim)))
    assert.equal(device.emulator.hasObject(victim), false)
    assert.equal(device.count('PUT', '/steps/'), 0)
    assert.equal(device.count('POST', '/commands'), 0)
    const record = await handover.status()
    assert.equal(record?.phase, 'uploading')
    assert.equal(record?.halted?.error, 'HandoverObjectRejectedError')
  })

  it('on 507 stops with a clear error, claims nothing, and retries only when asked again', async t => {
    const device = await testDevice(t, { quotaBytes: 2 * 1024 * 1024 })
    const release = await rev1()
    const handover = device.handover()

    const err = await handover.handOver(release).then(
      () => assert.fail('expected no space'),
      (e: unknown) => e,
    )

    assert.ok(err instanceof HandoverNoSpaceError)
    assert.match(err.message, /no room for object .* nothing was run/)
    assert.equal(device.count('PUT', '/steps/'), 0)
    assert.equal(device.count('POST', '/commands'), 0)
    const state = await device.store.readDeviceState()
    assert.equal(state.fleets['line-1']?.installedReleaseId, undefined)
    assert.deepEqual(state.failedReleases, {})
    assert.equal((await handover.status())?.phase, 'uploading')

    // a restart does not retry blindly
    await handover.stop()
    const requestsBefore = device.requests.length
    const restarted = device.handover()
    assert.equal(await restarted.resume(), undefined)
    assert.equal(device.requests.length, requestsBefore)

    // an explicit attempt, once there is room, finishes and sends each object once
    device.emulator.quotaBytes = Number.POSITIVE_INFINITY
    const outcome = await restarted.handOver(release)
    assert.equal(outcome.result, 'installed')
    assert.equal(device.count('PUT', '/objects/', 200), release.objects.length)
  })

  it('honours 503 Retry-After while another command is pending', async t => {
    const device = await testDevice(t, {
      delays: { pickupMs: 300 },
      retryAfterSeconds: { commandPending: 1 },
    })
    const other = new PvCtrlClient({ socketPath: device.emulator.socketPath })
    const handover = device.handover({
      // longer than the emulator's pickup, as a real device's grace is
      pickupGraceMs: 2000,
      atStep: async point => {
        if (point === 'command-sending') await other.runCommand('ENABLE_SSH', '')
      },
    })

    const outcome = await handover.handOver(await rev1())

    assert.equal(outcome.result, 'installed')
    const commands = device.requests.filter(r => r.path === '/commands').map(r => r.status)
    assert.deepEqual(commands, [200, 503, 200])
  })

  it('sends the run command again when a power cut lost it before Pantavisor picked it up', async t => {
    const device = await testDevice(t, { delays: { pickupMs: 150 } })
    const picked: string[] = []
    device.emulator.on('command', ({ op }: { op: string }) => picked.push(op))
    const handover = device.handover({
      pickupGraceMs: 300,
      atStep: async point => {
        if (point === 'command-sent') await device.emulator.reboot()
      },
    })

    const outcome = await handover.handOver(await rev1())

    assert.equal(outcome.result, 'installed')
    assert.deepEqual(
      device.requests.filter(r => r.path === '/commands').map(r => r.status),
      [200, 200],
    )
    assert.deepEqual(picked, ['LOCAL_RUN'], 'the lost command never ran; the second one did')
  })

  it('abandons a resend when the first command turns out to have been picked up', async t => {
    const device = await testDevice(t, {
      delays: { pickupMs: 400 },
      retryAfterSeconds: { commandPending: 1, updateRunning: 1 },
    })
    const picked: string[] = []
    device.emulator.on('command', ({ op }: { op: string }) => picked.push(op))
    // a grace shorter than the pickup: the first command looks lost while it is still queued
    const handover = device.handover({ pickupGraceMs: 100 })

    const outcome = await handover.handOver(await rev1())

    assert.equal(outcome.result, 'installed')
    assert.deepEqual(
      device.requests.filter(r => r.path === '/commands').map(r => r.status),
      [200, 503],
    )
    assert.deepEqual(picked, ['LOCAL_RUN'])
  })

  it('says the container needs the mgmt role on 403', async t => {
    const device = await testDevice(t, { notMgmt: true })
    await assert.rejects(device.handover().handOver(await rev1()), (err: unknown) => {
      assert.ok(err instanceof PvCtrlForbiddenError)
      assert.match(err.message, /"roles":\["mgmt"\]/)
      return true
    })
  })

  it('refuses to hand over with the "never" schedule', async t => {
    const device = await testDevice(t)
    const handover = device.handover({ schedule: { mode: 'never' } })
    await assert.rejects(handover.handOver(await rev1()), HandoverDisabledError)
    assert.equal(device.requests.length, 0)
  })

  describe('killed at a step boundary, then resumed by a new daemon', () => {
    const points: Array<{
      point: HandoverPoint
      when?: (record: HandoverRecord) => boolean
      emulator?: PvCtrlEmulatorOptions
    }> = [
      { point: 'uploading' },
      { point: 'object-uploaded' },
      { point: 'objects-uploaded' },
      { point: 'step-put' },
      { point: 'step-stored' },
      { point: 'command-sending' },
      { point: 'command-sent' },
      {
        point: 'trial-progress',
        when: record => record.lastProgress?.status === 'TESTING',
        // long enough that a poll every 10 ms cannot miss it, even on a loaded machine
        emulator: { delays: { testingMs: 400 } },
      },
      { point: 'trial-final' },
    ]
    for (const { point, when, emulator } of points) {
      it(`at ${point}: finishes with each object, the step and the command sent once`, async t => {
        const device = await testDevice(t, emulator)
        const release = await rev1()
        let killed = false
        const first = device.handover({
          atStep: (at, record) => {
            if (killed || at !== point || (when !== undefined && !when(record))) return
            killed = true
            throw new Killed(`killed at ${point}`)
          },
        })
        await assert.rejects(first.handOver(release), Killed)
        await first.stop()
        await device.reopenStore()

        const outcome = await device.handover().resume()

        assert.equal(outcome?.result, 'installed')
        assert.equal(device.emulator.revision, LOCAL_1)
        assert.equal(device.count('PUT', '/objects/', 200), release.objects.length)
        assert.equal(device.count('PUT', '/steps/'), 1)
        assert.equal(device.count('POST', '/commands'), 1)
        const state = await device.store.readDeviceState()
        assert.equal(state.fleets['line-1']?.installedReleaseId, releaseId(release))
      })
    }
  })

  describe('a device reboot during TESTING', () => {
    it('that rolls the revision back concludes ERROR "Unexpected rollback"', async t => {
      const device = await testDevice(t, {
        trials: { [LOCAL_1]: { outcome: 'rollback', reboot: false } },
      })
      const release = await rev1()
      const testing = device.emulator.waitFor('TESTING', LOCAL_1)
      const first = device.handover()
      const running = first.handOver(release)
      await testing
      // the daemon dies with the device
      await first.stop()
      await assert.rejects(running, HandoverStoppedError)
      await device.emulator.reboot()
      await device.reopenStore()

      const outcome = await device.handover().resume()

      assert.equal(outcome?.result, 'failed')
      assert.equal(outcome?.statusMsg, 'Unexpected rollback')
      assert.equal(outcome?.runningRevision, '0')
      assert.equal(device.emulator.revision, '0')
      const state = await device.store.readDeviceState()
      assert.ok(state.failedReleases[releaseId(release)] !== undefined)
      assert.equal(device.count('POST', '/commands'), 1)
    })

    it('that keeps the revision concludes DONE', async t => {
      const device = await testDevice(t, { delays: { testingMs: 60_000 } })
      const release = await rev1()
      const testing = device.emulator.waitFor('TESTING', LOCAL_1)
      const first = device.handover()
      const running = first.handOver(release)
      await testing
      await first.stop()
      await assert.rejects(running, HandoverStoppedError)
      await device.emulator.reboot()

      const outcome = await device.handover().resume()

      assert.equal(outcome?.result, 'installed')
      assert.equal(outcome?.status, 'DONE')
      assert.equal(device.emulator.revision, LOCAL_1)
      assert.equal(device.count('POST', '/commands'), 1)
    })
  })

  describe('the schedule window', () => {
    it('waits for the window with a timer and asks nothing of Pantavisor before it opens', async t => {
      const device = await testDevice(t)
      const release = await rev1()
      const startedMs = Date.now()
      // the window opens 300 ms after the test starts (local time, start of the next minute)
      const opening = new Date(2025, 5, 1, 2, 0, 0, 0).getTime()
      const now = (): Date => new Date(opening - 300 + (Date.now() - startedMs))
      const handover = device.handover({
        schedule: { mode: 'window', start: '02:00', end: '04:00' },
        now,
      })
      const waits: Array<{ opensAtMs: number; requests: number }> = []
      handover.on('waiting', event => {
        waits.push({ opensAtMs: event.opensAtMs, requests: device.requests.length })
      })

      const outcome = await handover.handOver(release)

      assert.ok(waits.length >= 1)
      for (const wait of waits) assert.deepEqual(wait, { opensAtMs: opening, requests: 0 })
      assert.ok(Date.now() - startedMs >= 290)
      assert.equal(outcome.result, 'installed')
    })

    it('stop() cancels the wait; a newer release replaces one still waiting', async t => {
      const device = await testDevice(t)
      const handover = device.handover({
        schedule: { mode: 'window', start: '02:00', end: '04:00' },
        now: () => new Date(2025, 5, 1, 12, 0),
      })
      const [first, second] = [await rev1(), await rev2()]
      const waitingFirst = new Promise(resolve => handover.once('waiting', resolve))
      const waiting = handover.handOver(first)
      await waitingFirst
      const waitingSecond = new Promise(resolve => handover.once('waiting', resolve))
      const newer = handover.handOver(second)
      await assert.rejects(waiting, /replaced by release/)
      await waitingSecond
      assert.equal((await handover.status())?.sequence, 2)

      await handover.stop()
      await assert.rejects(newer, HandoverStoppedError)
      assert.equal(device.requests.length, 0)
      assert.equal((await handover.status())?.phase, 'pending')

      const outcome = await device.handover().resume()
      assert.equal(outcome?.result, 'installed')
      assert.equal(outcome?.sequence, 2)
    })
  })
})
