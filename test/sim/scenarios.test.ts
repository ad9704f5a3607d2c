import assert from 'node:assert/strict'
import { once } from 'node:events'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateReleaseKey } from '../../src/release/index.js'
import { revisionFixture } from '../fixtures.js'
import { Fleet } from './fleet.js'
import type { SequenceResult } from './fleet-types.js'
import { makeSimRelease } from './releases.js'
import { SimDevice, type SimDownloadResult } from './sim-device.js'

// Issue 5's scenarios, in one process on loopback, with the real fixture revisions.

/** MANIFEST.md: the objects rev2 has and rev1 lacks. */
const REV1_TO_REV2_BYTES = 844_186

const installed = (outcome: string | null): boolean => outcome === 'DONE' || outcome === 'UPDATED'

function outcomes(result: SequenceResult): Array<[string, string | null]> {
  return result.devices.map(d => [d.name, d.outcome])
}

/** Resolves with a device's final trial status for one release. */
function trialEnd(device: SimDevice, releaseId: string): Promise<string> {
  return new Promise(resolve => {
    const onTrial = (e: { releaseId: string; status: string; final: boolean }): void => {
      if (e.releaseId !== releaseId || !e.final) return
      device.off('trial', onTrial)
      resolve(e.status)
    }
    device.on('trial', onTrial)
  })
}

function downloadEnd(device: SimDevice, releaseId: string): Promise<SimDownloadResult> {
  return new Promise(resolve => {
    const onComplete = (e: SimDownloadResult): void => {
      if (e.releaseId !== releaseId) return
      device.off('complete', onComplete)
      resolve(e)
    }
    device.on('complete', onComplete)
  })
}

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0)

describe('scenario: rev1, rev2, rev3 on 8 devices, and a device that joins late', () => {
  let fleet: Fleet
  const results: SequenceResult[] = []
  let late: { device: SimDevice; status: string; download: SimDownloadResult }

  before(async () => {
    fleet = await Fleet.start({ devices: 8 })
    results.push(await fleet.publish(revisionFixture('rev1')))
    results.push(await fleet.publish(revisionFixture('rev2')))
    const device = (await fleet.addDevice()) as SimDevice
    const rev2 = results[1]!.releaseId
    const [status, download] = await Promise.all([
      trialEnd(device, rev2),
      downloadEnd(device, rev2),
    ])
    late = { device, status, download }
    results.push(await fleet.publish(revisionFixture('rev3')))
  })
  after(() => fleet?.close())

  it('installs rev1 on all 8 devices, every trial DONE (first install reboots)', () => {
    const [rev1] = results
    assert.deepEqual(
      outcomes(rev1!),
      rev1!.devices.map(d => [d.name, 'DONE']),
    )
  })

  it('moves only the changed objects of rev2: each device receives the 844,186-byte delta', () => {
    const rev2 = results[1]!
    for (const device of rev2.devices.slice(1)) {
      const received = device.bytesFromSeed + device.bytesFromPeers
      const once = received - (device.download?.duplicateBytes ?? 0)
      assert.equal(once, REV1_TO_REV2_BYTES, `${device.name} received ${once} bytes once`)
      // a re-requested chunk at the end may arrive twice; never a whole copy
      assert.ok(received < 2 * REV1_TO_REV2_BYTES, `${device.name} received ${received}`)
    }
  })

  it('ends rev2 UPDATED everywhere: only containers changed, nothing rebooted', () => {
    const rev2 = results[1]!
    assert.deepEqual(
      outcomes(rev2),
      rev2.devices.map(d => [d.name, 'UPDATED']),
    )
  })

  it('brings a late joiner the newest release (rev2) from its peers, not only the seed', () => {
    assert.equal(late.status, 'DONE')
    const seed = fleet.seedDevice.peerId
    const fromPeers = sum(
      Object.entries(late.download.bytesByPeer)
        .filter(([peer]) => peer !== seed)
        .map(([, bytes]) => bytes),
    )
    assert.ok(fromPeers > 0, 'the late joiner received nothing from peers')
    assert.ok(sum(Object.values(late.download.bytesByPeer)) >= late.download.bytesTotal)
  })

  it('ends rev3 DONE on all 9 devices: its kernel changed, so every device rebooted', () => {
    const rev3 = results[2]!
    assert.equal(rev3.devices.length, 9)
    assert.deepEqual(
      outcomes(rev3),
      rev3.devices.map(d => [d.name, 'DONE']),
    )
  })
})

describe('scenario: the seed leaves halfway (4 devices)', () => {
  it('lets the others finish from each other once every object is somewhere on the floor', async () => {
    const fleet = await Fleet.start({ devices: 4, chunkBytes: 256 * 1024 })
    try {
      const path = revisionFixture('rev1')
      const made = await makeSimRelease(path, {
        key: fleet.key,
        fleet: fleet.init.fleet,
        sequence: 1,
        chunkBytes: 256 * 1024,
      })
      const others = fleet.devices.slice(1) as SimDevice[]
      const ends = others.map(d => trialEnd(d, made.id))
      const done = new Map<string, number>()
      let checking = false
      let partialAtStop: string[] | undefined
      const seedGone = new Promise<void>(resolve => {
        const check = async (): Promise<void> => {
          if (checking || partialAtStop !== undefined) return
          checking = true
          try {
            // every object whole on some device: the floor can finish without the seed
            const held = await Promise.all(
              made.release.objects.map(async o => {
                for (const d of others) if (await d.running.device.store.has(o.sha256)) return true
                return false
              }),
            )
            const partial = others.filter(d => (done.get(d.name) ?? 0) < made.objectBytes)
            if (held.every(Boolean) && partial.length > 0 && partialAtStop === undefined) {
              partialAtStop = partial.map(d => d.name)
              await fleet.seedDevice.stop()
              resolve()
            }
          } finally {
            checking = false
          }
        }
        for (const d of others) {
          d.on('progress', p => {
            if (p.releaseId !== made.id) return
            done.set(d.name, p.bytesDone)
            void check()
          })
        }
      })
      void fleet.seedDevice.seed(made.release, path).catch(() => {})
      await seedGone
      assert.ok(partialAtStop!.length > 0)
      assert.deepEqual(await Promise.all(ends), ['DONE', 'DONE', 'DONE'])
    } finally {
      await fleet.close()
    }
  })
})

describe('scenario: one trial fails (3 devices)', () => {
  it('keeps the previous release there, does not retry it, and leaves the others alone', async () => {
    // dev-02 fails the trial of sequence 2
    const fleet = await Fleet.start({ devices: 3, trials: { 2: { 2: { outcome: 'error' } } } })
    try {
      const failing = fleet.devices[2] as SimDevice
      const runs: string[] = []
      failing.emulator.on('command', (c: { op: string; payload: string }) => {
        if (c.op.startsWith('LOCAL_RUN')) runs.push(c.payload)
      })
      const rev1 = await fleet.publish(revisionFixture('rev1'))
      assert.ok(rev1.allDone)
      const before = failing.emulator.revision

      const rev2 = await fleet.publish(revisionFixture('rev2'))
      assert.deepEqual(outcomes(rev2), [
        ['dev-00', 'UPDATED'],
        ['dev-01', 'UPDATED'],
        ['dev-02', 'ERROR'],
      ])
      assert.equal(failing.emulator.revision, before)

      // a later release is still taken: the device is not stuck, and rev2 is not run again
      const rev3 = await fleet.publish(revisionFixture('rev3'))
      assert.ok(rev3.devices.every(d => installed(d.outcome)))
      assert.equal(runs.length, 3, `runs: ${runs.join(', ')}`)
      assert.equal(new Set(runs).size, 3, `runs: ${runs.join(', ')}`)
    } finally {
      await fleet.close()
    }
  })
})

describe('scenario: a release signed by an untrusted key (3 devices)', () => {
  it('reaches no device store: refused before a single object is fetched', async () => {
    const fleet = await Fleet.start({ devices: 3 })
    const rogueKey = generateReleaseKey()
    let rogue: SimDevice | undefined
    try {
      const devices = fleet.devices as SimDevice[]
      const path = revisionFixture('rev1')
      const made = await makeSimRelease(path, {
        key: rogueKey,
        fleet: fleet.init.fleet,
        sequence: 1,
      })
      const refused = devices.map(
        d =>
          new Promise<string>(resolve =>
            d.running.device.on('release:refused', e => {
              if (e.id === made.id) resolve(e.reason)
            }),
          ),
      )
      rogue = await SimDevice.start({
        name: 'rogue',
        dir: join(fleet.workDir, 'rogue'),
        fleet: fleet.init.fleet,
        trust: [rogueKey.publicKey],
        listen: ['/ip4/127.0.0.1/tcp/0'],
        peers: devices.map(d => d.addresses[0]!),
        allowHosts: ['/ip4/127.0.0.1'],
      })
      // the rogue device takes it (it trusts its own key), so there is something to spread
      const rogueAccepted = once(rogue, 'accepted')
      void rogue.seed(made.release, path).catch(() => {})
      await rogueAccepted
      const reasons = await Promise.all(refused)
      for (const reason of reasons) assert.match(reason, /trust|key|sign/i)
      for (const device of devices) {
        const store = device.running.device.store
        assert.deepEqual(await store.list(), [], `${device.name} stored objects`)
        assert.deepEqual(await store.listReleaseIds(), [], `${device.name} stored the release`)
      }
    } finally {
      await rogue?.stop()
      await fleet.close()
    }
  })
})
