import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { generateReleaseKey, type ReleaseKeyPair } from '../../src/release/index.js'
import { coreCount, machineBusyFraction, sampleMachineCpu } from './cpu.js'
import type { DeviceSpecBase, FleetBackend, FleetCpu } from './fleet-backend.js'
import { startInProcessBackend, type InProcessBackend } from './fleet-inprocess.js'
import { startNetnsBackend } from './fleet-netns.js'
import type { TrialDelays, TrialScript } from './pvctrl-emulator.js'
import { makeSimRelease } from './releases.js'
import { SequenceTracker, type DeviceSequenceState } from './sequence-tracker.js'
import type { SimDeviceHandle } from './sim-device.js'
import { onTeardown } from './teardown.js'

export type FleetMode = 'inprocess' | 'netns'

/** How a floor is built. */
export interface FleetInit {
  /** devices on the floor, the seed included. @default 8 */
  devices?: number
  /** one process on loopback, or one process per namespace on shaped links. @default 'inprocess' */
  mode?: FleetMode
  /** netns: each device link's rate in Mbit/s, both ways; 0 = unshaped. @default 20 */
  linkMbit?: number
  /** netns: find peers by mDNS, or tell each device of those started before it. @default 'mdns' */
  discovery?: 'mdns' | 'static'
  /** @default 'sim' */
  fleet?: string
  /** chunk size of the releases. @default 1 MiB */
  chunkBytes?: number
  /** only the seed serves (the central baseline: one laptop pushing to every device). @default false */
  serveOnlyAsSeed?: boolean
  /** DHT provider records; on one segment every device sees every other anyway. @default false */
  dht?: boolean
  /** folder for the devices. @default a new temporary folder, removed on close */
  workDir?: string
  /** every device's log, pino JSON lines with a `device` field. @default no logs */
  logFile?: string
  /** scripted trial endings: device index → release sequence → script. @default all succeed */
  trials?: Record<number, Record<number, TrialScript>>
  /** pauses of the emulated update flow. @default the emulator's (tens of milliseconds) */
  trialDelays?: TrialDelays
  /** how long the devices may take to see each other before the first release. @default 30000 */
  meshTimeoutMs?: number
}

/** One device's result in one sequence. */
export interface DeviceResult extends DeviceSequenceState {
  /** payload bytes this device received from the seed and from other devices */
  bytesFromSeed: number
  bytesFromPeers: number
  /** bytes this device served to others during the sequence */
  bytesServed: number
}

/** One release spread over the floor. */
export interface SequenceResult {
  sequence: number
  releaseId: string
  revisionPath: string
  /** bytes of all objects of the revision */
  revisionBytes: number
  /** the seed importing the revision, before the floor could start */
  seedImportSeconds: number
  /** from the release being on the floor to the last device settling (or the timeout) */
  seconds: number
  /** every device ended DONE or UPDATED */
  allDone: boolean
  timedOut: boolean
  devices: DeviceResult[]
  servedBySeedBytes: number
  servedByPeersBytes: number
  duplicateBytes: number
  cpu: CpuUse
}

/** CPU used over a stretch of wall time. */
export interface CpuUse {
  wallSeconds: number
  simulatorSeconds: number
  /** sum over the device processes (netns) */
  deviceSeconds: number | undefined
  /** (simulator + devices) ÷ wall: cores kept busy */
  cores: number
  /** the machine's cores */
  machineCores: number
  /** share of the whole machine that was busy, anyone's processes included */
  machineBusy: number | undefined
}

/** Options of one publish. */
export interface PublishOptions {
  /** @default time for every device to fetch the revision alone over its link, several times over */
  timeoutMs?: number
}

interface CpuSample {
  fleet: FleetCpu
  machine: ReturnType<typeof sampleMachineCpu>
}

export interface FleetEvents {
  /** a release is about to be seeded */
  sequence: [{ sequence: number; releaseId: string; revisionPath: string; revisionBytes: number }]
  /** a device's state in the current sequence changed */
  change: []
}

/**
 * A floor of simulated devices, device 0 the seed. publish() signs a release
 * of a pvr export with the floor's key, seeds it and follows every device to
 * its trial's outcome. Everything is stopped and removed by close(), and on
 * SIGINT/SIGTERM.
 */
export class Fleet extends EventEmitter<FleetEvents> {
  readonly backend: FleetBackend
  readonly key: ReleaseKeyPair
  readonly init: FleetInit & { devices: number; mode: FleetMode; fleet: string }
  readonly workDir: string
  readonly meshSeconds: number
  readonly meshComplete: boolean
  readonly #release: () => Promise<void>
  readonly #specOf: (index: number) => DeviceSpecBase
  #sequence = 0
  #current: SequenceTracker | undefined

  private constructor(
    init: Fleet['init'],
    key: ReleaseKeyPair,
    workDir: string,
    backend: FleetBackend,
    mesh: { seconds: number; complete: boolean },
    release: () => Promise<void>,
    specOf: (index: number) => DeviceSpecBase,
  ) {
    super()
    this.init = init
    this.key = key
    this.workDir = workDir
    this.backend = backend
    this.meshSeconds = mesh.seconds
    this.meshComplete = mesh.complete
    this.#release = release
    this.#specOf = specOf
  }

  static async start(options: FleetInit = {}): Promise<Fleet> {
    const init = {
      ...options,
      devices: options.devices ?? 8,
      mode: options.mode ?? 'inprocess',
      fleet: options.fleet ?? 'sim',
    }
    if (!Number.isInteger(init.devices) || init.devices < 1) {
      throw new RangeError(`devices: expected an integer ≥ 1, got ${init.devices}`)
    }
    const ownsDir = options.workDir === undefined
    const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'pvswarm-sim-')))
    const key = generateReleaseKey()
    let backend: FleetBackend | undefined
    const release = onTeardown({
      what: `simulated floor in ${workDir}`,
      cleanup: async () => {
        await backend?.close()
        if (ownsDir) await rm(workDir, { recursive: true, force: true })
      },
    })
    try {
      const specOf = (index: number): DeviceSpecBase => ({
        name: deviceName(index),
        dir: join(workDir, deviceName(index)),
        fleet: init.fleet,
        trust: [key.publicKey],
        dht: init.dht ?? false,
        serveOnlyAsSeed: init.serveOnlyAsSeed ?? false,
        trialsBySequence: init.trials?.[index],
        trialDelays: init.trialDelays,
        logFile: init.logFile,
      })
      backend =
        init.mode === 'netns'
          ? await startNetnsBackend({
              devices: init.devices,
              specOf,
              linkMbit: init.linkMbit ?? 20,
              discovery: init.discovery ?? 'mdns',
            })
          : await startInProcessBackend({ devices: init.devices, specOf })
      const mesh = await waitForMesh(backend.devices, init.meshTimeoutMs ?? 30_000)
      return new Fleet(init, key, workDir, backend, mesh, release, specOf)
    } catch (err) {
      await release()
      throw err
    }
  }

  get devices(): readonly SimDeviceHandle[] {
    return this.backend.devices
  }

  /**
   * Starts one more device (in-process floors only), told of every device
   * running now: a late joiner, which catches up with the newest release
   * from its peers.
   */
  async addDevice(): Promise<SimDeviceHandle> {
    const backend = this.backend
    if (backend.mode !== 'inprocess') throw new Error('addDevice: in-process floors only')
    const index = backend.devices.length
    return (backend as InProcessBackend).addDevice(this.#specOf(index))
  }

  get seedDevice(): SimDeviceHandle {
    return this.backend.devices[0]!
  }

  /** The devices' states in the sequence under way (or the last one). */
  states(): readonly DeviceSequenceState[] {
    return this.#current?.states ?? []
  }

  /** Seconds the sequence under way has run. */
  elapsedSeconds(): number {
    return this.#current?.elapsedSeconds() ?? 0
  }

  cpu(): FleetCpu {
    return this.backend.cpu()
  }

  /**
   * Signs a release of `revisionPath` as the next sequence, gives it to the
   * seed and resolves when every device has its trial's outcome (or failed,
   * or the timeout passed).
   */
  async publish(revisionPath: string, options: PublishOptions = {}): Promise<SequenceResult> {
    const sequence = ++this.#sequence
    const made = await makeSimRelease(revisionPath, {
      key: this.key,
      fleet: this.init.fleet,
      sequence,
      chunkBytes: this.init.chunkBytes,
    })
    const devices = this.backend.devices
    const servedBefore = await Promise.all(devices.map(d => d.stats()))
    const tracker = new SequenceTracker(made.id, devices, 0, () => this.emit('change'))
    // told before the tracker becomes current, so a view can finish drawing the last one
    this.emit('sequence', {
      sequence,
      releaseId: made.id,
      revisionPath,
      revisionBytes: made.objectBytes,
    })
    this.#current = tracker
    const seedPeer = this.seedDevice.peerId
    const importStarted = performance.now()
    let seedImportSeconds = 0
    const onSeedAccepted = (e: { releaseId: string }): void => {
      if (e.releaseId !== made.id) return
      seedImportSeconds = (performance.now() - importStarted) / 1000
      tracker.floorReady()
    }
    this.seedDevice.on('accepted', onSeedAccepted)
    const cpuStart = this.#cpuSample()

    // seed() resolves only after the seed's own hand-over: follow it, do not wait for it
    void this.seedDevice.seed(made.release, revisionPath).catch(err => {
      tracker.fail(0, `seed: ${(err as Error).message}`)
      for (let i = 1; i < devices.length; i++) tracker.fail(i, 'the seed could not publish')
    })
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs(made.objectBytes)
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      tracker.settled.then(() => false),
      new Promise<boolean>(resolve => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ])
    clearTimeout(timer)
    const seconds = tracker.elapsedSeconds()
    tracker.dispose()
    this.seedDevice.off('accepted', onSeedAccepted)
    const cpu = this.#cpuUse(cpuStart, seconds + seedImportSeconds)
    const servedAfter = await Promise.all(devices.map(d => d.stats().catch(() => undefined)))

    const results: DeviceResult[] = tracker.states.map((state, index) => {
      const received = state.download?.bytesByPeer ?? {}
      const fromSeed = received[seedPeer] ?? 0
      const total = Object.values(received).reduce((sum, bytes) => sum + bytes, 0)
      const served =
        (servedAfter[index]?.bytesServed ?? 0) - (servedBefore[index]?.bytesServed ?? 0)
      return {
        ...state,
        bytesFromSeed: fromSeed,
        bytesFromPeers: total - fromSeed,
        bytesServed: served,
      }
    })
    return {
      sequence,
      releaseId: made.id,
      revisionPath,
      revisionBytes: made.objectBytes,
      seedImportSeconds,
      seconds,
      allDone: results.every(r => r.outcome === 'DONE' || r.outcome === 'UPDATED'),
      timedOut,
      devices: results,
      servedBySeedBytes: results[0]?.bytesServed ?? 0,
      servedByPeersBytes: results.slice(1).reduce((sum, r) => sum + r.bytesServed, 0),
      duplicateBytes: results.reduce((sum, r) => sum + (r.download?.duplicateBytes ?? 0), 0),
      cpu,
    }
  }

  /** Stops every device and removes what the fleet made. Safe to call twice. */
  close(): Promise<void> {
    return this.#release()
  }

  #defaultTimeoutMs(revisionBytes: number): number {
    const devices = this.init.devices
    if (this.init.mode === 'netns' && (this.init.linkMbit ?? 20) > 0) {
      // every device fetched from the seed alone, one after another, twice over
      const aloneMs = ((revisionBytes * 8) / ((this.init.linkMbit ?? 20) * 1e6)) * 1000
      return 60_000 + 2 * devices * aloneMs
    }
    // loopback: tens of MiB/s per device even when only the seed serves
    return 60_000 + ((devices * revisionBytes) / (10 * 1024 * 1024)) * 1000
  }

  #cpuSample(): CpuSample {
    return { fleet: this.backend.cpu(), machine: sampleMachineCpu() }
  }

  #cpuUse(start: CpuSample, wallSeconds: number): CpuUse {
    const end = this.#cpuSample()
    const simulatorSeconds = end.fleet.simulatorSeconds - start.fleet.simulatorSeconds
    const deviceSeconds =
      end.fleet.deviceSeconds === undefined
        ? undefined
        : sum(end.fleet.deviceSeconds) - sum(start.fleet.deviceSeconds ?? [])
    return {
      wallSeconds,
      simulatorSeconds,
      deviceSeconds,
      cores: wallSeconds > 0 ? (simulatorSeconds + (deviceSeconds ?? 0)) / wallSeconds : 0,
      machineCores: coreCount(),
      machineBusy: machineBusyFraction(start.machine, end.machine),
    }
  }
}

/** A whole run: a floor, one release after another, a result per release. */
export interface FleetRunResult {
  mode: FleetMode
  devices: number
  linkMbit: number | undefined
  meshSeconds: number
  meshComplete: boolean
  sequences: SequenceResult[]
  /** every device ended every sequence DONE or UPDATED */
  allDone: boolean
  /** the sequences' floor times, added up */
  seconds: number
}

/**
 * Starts a floor, publishes each revision in turn (the next one only once the
 * one before has settled everywhere; a timeout ends the run) and closes the
 * floor, whatever happens.
 */
export async function runFleet(
  init: FleetInit,
  revisionPaths: readonly string[],
  hooks: { onStart?: (fleet: Fleet) => void; onSequence?: (result: SequenceResult) => void } = {},
): Promise<FleetRunResult> {
  if (revisionPaths.length === 0) throw new RangeError('expected at least one revision to publish')
  const fleet = await Fleet.start(init)
  try {
    hooks.onStart?.(fleet)
    const sequences: SequenceResult[] = []
    for (const path of revisionPaths) {
      const result = await fleet.publish(path)
      sequences.push(result)
      hooks.onSequence?.(result)
      if (result.timedOut) break
    }
    return {
      mode: fleet.init.mode,
      devices: fleet.init.devices,
      linkMbit: fleet.init.mode === 'netns' ? (fleet.init.linkMbit ?? 20) : undefined,
      meshSeconds: fleet.meshSeconds,
      meshComplete: fleet.meshComplete,
      sequences,
      allDone: sequences.length === revisionPaths.length && sequences.every(s => s.allDone),
      seconds: sequences.reduce((total, s) => total + s.seconds, 0),
    }
  } finally {
    await fleet.close()
  }
}

/**
 * Waits until every device is connected to every other, so a release's time
 * is spent spreading it, not discovering peers. Polls the devices' own
 * counts (in netns mode there is no event to listen to across processes).
 */
async function waitForMesh(
  devices: readonly SimDeviceHandle[],
  timeoutMs: number,
): Promise<{ seconds: number; complete: boolean }> {
  const started = performance.now()
  const want = devices.length - 1
  for (;;) {
    const stats = await Promise.all(devices.map(d => d.stats()))
    if (stats.every(s => s.connectedPeers >= want)) {
      return { seconds: (performance.now() - started) / 1000, complete: true }
    }
    if (performance.now() - started > timeoutMs) {
      return { seconds: (performance.now() - started) / 1000, complete: false }
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

export function deviceName(index: number): string {
  return `dev-${String(index).padStart(2, '0')}`
}

/** File name of a revision, for display. */
export function revisionLabel(path: string): string {
  return basename(path)
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0)
}
