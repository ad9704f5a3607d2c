import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import {
  InvalidDeviceStateError,
  openStore,
  StateFileError,
  type Store,
} from '../../src/store/index.js'
import { makeTempDir, namesIn } from './helpers.js'

const RELEASE_ID = 'ab'.repeat(32)

describe('store device state', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let store: Store

  beforeEach(async () => {
    ;({ dir, cleanup } = await makeTempDir())
    store = await openStore({ dataDir: dir })
  })

  afterEach(async () => {
    await store.close()
    await cleanup()
  })

  it('starts empty and keeps an update across a reopen', async () => {
    assert.deepEqual(await store.readDeviceState(), {
      version: 1,
      fleets: {},
      failedReleases: {},
      rooms: {},
    })
    const saved = await store.updateDeviceState(state => {
      state.fleets.factory = { highestSequence: 7, newestIssuedAtMs: 1_700_000_000_000 }
      state.rooms.pantavisor = { step: 'trial', revision: 'locals/x' }
    })
    assert.equal(saved.fleets.factory?.highestSequence, 7)

    await store.close()
    store = await openStore({ dataDir: dir })
    assert.deepEqual(await store.readDeviceState(), saved)
    const onDisk = JSON.parse(await readFile(join(dir, 'device-state.json'), 'utf8'))
    assert.deepEqual(onDisk, saved)
  })

  it('applies concurrent updates one after the other, none lost', async () => {
    await store.updateDeviceState(state => {
      state.fleets.f = { highestSequence: 0, newestIssuedAtMs: 0 }
    })
    const updates = Array.from({ length: 20 }, (_, i) =>
      store.updateDeviceState(async state => {
        const fleet = state.fleets.f!
        const seen = fleet.highestSequence
        // Yield in the middle of the read-modify-write: interleaving would lose updates.
        await new Promise<void>(resolve => setImmediate(resolve))
        fleet.highestSequence = seen + 1
        state.failedReleases[i.toString(16).padStart(64, '0')] = {
          fleet: 'f',
          sequence: i,
          reason: 'test',
          atMs: i,
        }
      }),
    )
    await Promise.all(updates)
    const state = await store.readDeviceState()
    assert.equal(state.fleets.f?.highestSequence, 20)
    assert.equal(Object.keys(state.failedReleases).length, 20)
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('saves nothing when the mutation throws or leaves an invalid state', async () => {
    await store.updateDeviceState(state => {
      state.fleets.f = { highestSequence: 3, newestIssuedAtMs: 5 }
    })
    const before = await readFile(join(dir, 'device-state.json'), 'utf8')

    await assert.rejects(
      store.updateDeviceState(state => {
        state.fleets.f!.highestSequence = 4
        throw new Error('changed my mind')
      }),
      /changed my mind/,
    )
    await assert.rejects(
      store.updateDeviceState(state => {
        state.fleets.f!.highestSequence = -1
        state.fleets.f!.installedReleaseId = 'not hex'
      }),
      (err: unknown) =>
        err instanceof InvalidDeviceStateError &&
        /fleets\.f\.highestSequence/.test(err.message) &&
        /installedReleaseId/.test(err.message),
    )
    assert.equal(await readFile(join(dir, 'device-state.json'), 'utf8'), before)
    assert.equal((await store.readDeviceState()).fleets.f?.highestSequence, 3)
  })

  it('reports a torn state file by name instead of starting over', async () => {
    const file = join(dir, 'device-state.json')
    await writeFile(file, '{"version":1,"fleets":{"f":{"highestSeq')
    await assert.rejects(store.readDeviceState(), (err: unknown) => {
      assert.ok(err instanceof StateFileError)
      assert.equal(err.file, file)
      assert.match(err.message, /not valid JSON/)
      assert.ok(err.message.includes(file))
      return true
    })
    await assert.rejects(
      store.updateDeviceState(() => undefined),
      StateFileError,
    )
    assert.equal(await readFile(file, 'utf8'), '{"version":1,"fleets":{"f":{"highestSeq')
  })

  it('reports a state file of the wrong shape, saying what is wrong', async () => {
    const file = join(dir, 'device-state.json')
    await writeFile(
      file,
      JSON.stringify({ version: 2, fleets: {}, failedReleases: { [RELEASE_ID]: {} }, rooms: {} }),
    )
    await assert.rejects(store.readDeviceState(), (err: unknown) => {
      assert.ok(err instanceof StateFileError)
      assert.match(err.problem, /version/)
      assert.match(err.problem, new RegExp(`failedReleases\\.${RELEASE_ID}\\.fleet`))
      return true
    })
  })

  it('keeps fields it does not know, written by a newer version', async () => {
    await writeFile(
      join(dir, 'device-state.json'),
      JSON.stringify({ version: 1, fleets: {}, failedReleases: {}, rooms: {}, future: [1] }),
    )
    await store.updateDeviceState(state => {
      state.rooms.x = 1
    })
    const onDisk = JSON.parse(await readFile(join(dir, 'device-state.json'), 'utf8'))
    assert.deepEqual(onDisk.future, [1])
  })
})
