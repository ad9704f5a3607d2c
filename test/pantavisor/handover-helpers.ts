import { createHash } from 'node:crypto'
import { createReadStream, rmSync } from 'node:fs'
import { link, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { TestContext } from 'node:test'
import { Handover, PvCtrlClient, type HandoverInit } from '../../src/pantavisor/index.js'
import { importRevision } from '../../src/revision/index.js'
import { openStore, type Store } from '../../src/store/index.js'
import { revisionFixture } from '../fixtures.js'
import {
  startPvCtrlEmulator,
  type PvCtrlEmulator,
  type PvCtrlEmulatorOptions,
  type RequestEvent,
} from '../sim/pvctrl-emulator.js'

/** Emulator pauses short enough that a whole trial takes well under a second. */
export const FAST_DELAYS = { pickupMs: 10, inProgressMs: 20, testingMs: 20, rebootDownMs: 20 }

let template: Promise<string> | undefined

/**
 * A data directory holding every object of rev1 and rev2, imported once per
 * test file; each test's store hard-links them, so setting up costs nothing.
 * A test that damages an object must replace the file, not write into it.
 */
function objectTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pvswarm-handover-template-'))
    const store = await openStore({ dataDir: dir, reserveBytes: 0 })
    await importRevision(revisionFixture('rev1'), store)
    await importRevision(revisionFixture('rev2'), store)
    await store.close()
    // 'exit' listeners run synchronously: an async rm there would never finish
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    return dir
  })()
  return template
}

/** A device: a store with rev1 and rev2 objects, a pv-ctrl emulator, and a client of it. */
export interface TestDevice {
  dir: string
  dataDir: string
  store: Store
  emulator: PvCtrlEmulator
  client: PvCtrlClient
  /** every request the emulator answered, in order */
  requests: RequestEvent[]
  /** a Handover on this device, stopped after the test */
  handover(init?: Partial<HandoverInit>): Handover
  /** closes the store and opens it again, as a restarted daemon does */
  reopenStore(): Promise<Store>
  /** requests matching a method and a path prefix (and status, if given) */
  count(method: string, pathPrefix: string, status?: number): number
}

export async function testDevice(
  t: TestContext,
  emulatorOptions: PvCtrlEmulatorOptions = {},
): Promise<TestDevice> {
  const dir = await mkdtemp(join(tmpdir(), 'pvswarm-handover-'))
  const dataDir = join(dir, 'data')
  const from = join(await objectTemplate(), 'objects')
  await mkdir(join(dataDir, 'objects'), { recursive: true, mode: 0o700 })
  for (const name of await readdir(from))
    await link(join(from, name), join(dataDir, 'objects', name))

  const emulator = await startPvCtrlEmulator({
    dir: join(dir, 'pv'),
    ...emulatorOptions,
    delays: { ...FAST_DELAYS, ...emulatorOptions.delays },
  })
  const requests: RequestEvent[] = []
  emulator.on('request', (event: RequestEvent) => requests.push(event))
  const client = new PvCtrlClient({ socketPath: emulator.socketPath, requestTimeoutMs: 10_000 })
  const handovers: Handover[] = []

  const device: TestDevice = {
    dir,
    dataDir,
    store: await openStore({ dataDir, reserveBytes: 0 }),
    emulator,
    client,
    requests,
    handover: (init = {}) => {
      const handover = new Handover({
        store: device.store,
        client,
        pollIntervalMs: 10,
        pickupGraceMs: 200,
        ...init,
      })
      handovers.push(handover)
      return handover
    },
    reopenStore: async () => {
      await device.store.close()
      device.store = await openStore({ dataDir, reserveBytes: 0 })
      return device.store
    },
    count: (method, pathPrefix, status) =>
      requests.filter(
        r =>
          r.method === method &&
          r.path.startsWith(pathPrefix) &&
          (status === undefined || r.status === status),
      ).length,
  }
  t.after(async () => {
    for (const handover of handovers) await handover.stop()
    await emulator.close()
    await device.store.close()
    await rm(dir, { recursive: true, force: true })
  })
  return device
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

/** Thrown by an `atStep` hook to cut a hand-over short, as kill -9 would. */
export class Killed extends Error {
  override readonly name = 'Killed'
}
