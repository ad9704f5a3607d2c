import { EventEmitter } from 'node:events'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateReleaseKey, type ReleaseKeyPair } from '../../src/release/index.js'
import { coreCount, machineBusyFraction, sampleMachineCpu } from './cpu.js'
import {
  waitForMesh,
  type DeviceSpecBase,
  type FleetBackend,
  type FleetCpu,
} from './fleet-backend.js'
import { startInProcessBackend, type InProcessBackend } from './fleet-inprocess.js'
import { startNetnsBackend } from './fleet-netns.js'
import { makeSimRelease } from './releases.js'
import {
  DEFAULT_LINK_MBIT,
  type CpuUse,
  type DeviceResult,
  type FleetEvents,
  type FleetInit,
  type FleetMode,
  type PublishOptions,
  type SequenceResult,
} from './fleet-types.js'
import { SequenceTracker, type DeviceSequenceState } from './sequence-tracker.js'
import type { SimDeviceHandle } from './sim-device.js'
import { onTeardown } from './teardown.js'

interface CpuSample {
  fleet: FleetCpu
  machine: ReturnType<typeof sampleMachineCpu>
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
      // exiting without the async cleanup: the namespaces have their own fallback
      cleanupSync: () => {
        if (ownsDir) rmSync(workDir, { recursive: true, force: true })
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
              linkMbit: init.linkMbit ?? DEFAULT_LINK_MBIT,
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
    const servedBefore = await Promise.all(devices.map(d => d.stats().catch(() => undefined)))
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
    const timeoutMs =
      options.timeoutMs ?? this.init.sequenceTimeoutMs ?? this.#defaultTimeoutMs(made.objectBytes)
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
    if (this.init.mode === 'netns' && (this.init.linkMbit ?? DEFAULT_LINK_MBIT) > 0) {
      // every device fetched from the seed alone, one after another, twice over
      const aloneMs =
        ((revisionBytes * 8) / ((this.init.linkMbit ?? DEFAULT_LINK_MBIT) * 1e6)) * 1000
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

export function deviceName(index: number): string {
  return `dev-${String(index).padStart(2, '0')}`
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0)
}
