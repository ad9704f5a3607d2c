import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { discardingSink, importRevision } from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'
import { rebootDecision } from './pvctrl-emulator-reboot.js'

async function fixtureState(name: 'rev1' | 'rev2' | 'rev3'): Promise<Buffer> {
  const { revision } = await importRevision(revisionFixture(name), discardingSink())
  return Buffer.from(revision.bytes)
}

const state = (entries: Record<string, unknown>): Buffer =>
  Buffer.from(JSON.stringify({ '#spec': 'pantavisor-service-system@1', ...entries }))

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

describe('reboot decision of LOCAL_RUN', () => {
  it('restarts sensor-app and web only from rev1 to rev2 (a root volume and a _config overlay)', async () => {
    const decision = rebootDecision(await fixtureState('rev1'), await fixtureState('rev2'))
    assert.deepEqual(decision, {
      reboot: false,
      reason: 'restarting sensor-app, web',
      restarted: ['sensor-app', 'web'],
    })
  })

  it('reboots from rev2 to rev3, whose kernel changed', async () => {
    const decision = rebootDecision(await fixtureState('rev2'), await fixtureState('rev3'))
    assert.equal(decision.reboot, true)
    assert.equal(decision.reason, 'bsp/kernel.img changed (BSP)')
  })

  it('reboots for the first install: nothing running, or only the factory state', async () => {
    const rev1 = await fixtureState('rev1')
    assert.equal(rebootDecision(undefined, rev1).reboot, true)
    assert.equal(rebootDecision(state({}), rev1).reason, 'nothing runs yet: first install')
  })

  it('reboots when a top-level key changes and restarts nothing in place', () => {
    const decision = rebootDecision(
      state({ 'device.json': { groups: [] }, 'app/root': A }),
      state({ 'device.json': { groups: [{ name: 'x' }] }, 'app/root': B }),
    )
    assert.deepEqual(decision, {
      reboot: true,
      reason: 'device.json changed (top level)',
      restarted: [],
    })
  })

  it('reboots when a container with restart_policy system changes, in the old or new state', () => {
    const run = (policy: string) => ({ restart_policy: policy })
    const system = rebootDecision(
      state({ 'core/run.json': run('system'), 'core/root': A }),
      state({ 'core/run.json': run('system'), 'core/root': B }),
    )
    assert.equal(system.reboot, true)
    const nowContainer = rebootDecision(
      state({ 'core/run.json': run('system'), 'core/root': A }),
      state({ 'core/run.json': run('container'), 'core/root': A }),
    )
    assert.equal(nowContainer.reboot, true)
  })

  it('restarts a container that is added or removed', () => {
    const decision = rebootDecision(
      state({ 'app/root': A, 'old/root': A }),
      state({ 'app/root': A, 'new/root': B }),
    )
    assert.deepEqual(decision.restarted, ['new', 'old'])
    assert.equal(decision.reboot, false)
  })

  it('ignores pvr metadata (src.json) and signatures', () => {
    const decision = rebootDecision(
      state({ 'bsp/src.json': { v: 1 }, '_sigs/bsp.json': { s: 1 }, 'app/root': A }),
      state({ 'bsp/src.json': { v: 2 }, '_sigs/bsp.json': { s: 2 }, 'app/root': A }),
    )
    assert.deepEqual(decision, { reboot: false, reason: 'nothing changed', restarted: [] })
  })
})
