import type { ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { encodeRelease, type Release } from '../../src/release/index.js'
import { DEVICE_NODE_FLAGS } from '../../src/node/runtime-flags.js'
import { PvswarmError } from '../../src/util/errors.js'
import { ChildCpuTracker, ownCpuSeconds } from './cpu.js'
import { parseReport, type DeviceCommand, type DeviceReport } from './device-protocol.js'
import type { BackendInit, FleetBackend, FleetCpu } from './fleet-backend.js'
import { NetnsFloor, type NetnsHost } from './netns.js'
import type { SimDeviceEvents, SimDeviceHandle, SimDeviceStats } from './sim-device.js'

/** A device process failed to start, died, or did not answer. */
export class DeviceProcessError extends PvswarmError {
  static override readonly name = 'DeviceProcessError'
}

const DEVICE_SCRIPT = fileURLToPath(new URL('./device-process.js', import.meta.url))
/** Lines of a device's stderr kept for the message when it dies. */
const STDERR_TAIL_LINES = 20
const STOP_TIMEOUT_MS = 10_000

export interface NetnsBackendInit extends BackendInit {
  /** each device link's rate in Mbit/s, both ways; 0 = unshaped */
  linkMbit: number
  /** how long a device process may take to report ready. @default 60000 */
  readyTimeoutMs?: number
  /**
   * How devices find each other: mDNS across the bridge, or each device told
   * of every device started before it (devices then start one by one).
   * @default 'mdns'
   */
  discovery?: 'mdns' | 'static'
}

/**
 * The realistic floor: one namespace and one process per device, on one
 * bridge, every link shaped at both ends, peers found by mDNS only. The
 * namespaces and processes go away on close(), on a failed start, and on
 * SIGINT/SIGTERM (NetnsFloor registers the teardown).
 */
export async function startNetnsBackend(init: NetnsBackendInit): Promise<FleetBackend> {
  const floor = await NetnsFloor.create({ hosts: init.devices, linkMbit: init.linkMbit })
  const cpu = new ChildCpuTracker()
  try {
    const readyTimeoutMs = init.readyTimeoutMs ?? 60_000
    let devices: RemoteSimDevice[] = []
    if (init.discovery === 'static') {
      for (const host of floor.hosts) {
        const peers = devices.flatMap(d => d.addresses.slice(0, 1))
        devices.push(await RemoteSimDevice.start(floor, host, init, peers, cpu, readyTimeoutMs))
      }
    } else {
      devices = await Promise.all(
        floor.hosts.map(host =>
          RemoteSimDevice.start(floor, host, init, undefined, cpu, readyTimeoutMs),
        ),
      )
    }
    let closing: Promise<void> | undefined
    return {
      mode: 'netns',
      devices,
      floor,
      cpu(): FleetCpu {
        cpu.sample()
        return {
          simulatorSeconds: ownCpuSeconds(),
          deviceSeconds: devices.map(d => cpu.seconds(d.pid)),
        }
      },
      close() {
        closing ??= (async () => {
          cpu.sample()
          await Promise.allSettled(devices.map(d => d.stop()))
          await floor.destroy()
        })()
        return closing
      },
    }
  } catch (err) {
    await floor.destroy()
    throw err
  }
}

/** A command without its id (the id is added when it is sent). */
type WithoutId<C> = C extends unknown ? Omit<C, 'id'> : never
type CommandBody = WithoutId<DeviceCommand>

/** A device in another process, driven over its stdin/stdout JSON lines. */
class RemoteSimDevice extends EventEmitter<SimDeviceEvents> implements SimDeviceHandle {
  readonly name: string
  readonly pid: number
  peerId = ''
  addresses: string[] = []
  readonly #child: ChildProcess
  readonly #pending = new Map<number, (reply: Extract<DeviceReport, { sim: 'reply' }>) => void>()
  readonly #stderrTail: string[] = []
  #nextId = 1
  #exited = false

  private constructor(name: string, child: ChildProcess) {
    super()
    this.name = name
    this.#child = child
    this.pid = child.pid ?? -1
  }

  static async start(
    floor: NetnsFloor,
    host: NetnsHost,
    init: NetnsBackendInit,
    staticPeers: string[] | undefined,
    cpu: ChildCpuTracker,
    readyTimeoutMs: number,
  ): Promise<RemoteSimDevice> {
    const spec = {
      ...init.specOf(host.index),
      listen: [`/ip4/${host.address}/tcp/0`],
      peers: staticPeers ?? [],
      mdns: staticPeers === undefined,
    }
    // started the way bin/pvswarm.js starts a device, so the floor's memory is a device's
    const args = [...DEVICE_NODE_FLAGS, DEVICE_SCRIPT, JSON.stringify(spec)]
    const child = floor.spawn(host, process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const device = new RemoteSimDevice(spec.name, child)
    cpu.track(device.pid)
    const ready = device.#listen()
    const timer = setTimeout(() => child.kill('SIGKILL'), readyTimeoutMs)
    try {
      const report = await ready
      device.peerId = report.peerId
      device.addresses = report.addresses
      return device
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /** Routes the child's output; resolves with its ready report, rejects if it dies first. */
  #listen(): Promise<Extract<DeviceReport, { sim: 'ready' }>> {
    const { promise, resolve, reject } =
      Promise.withResolvers<Extract<DeviceReport, { sim: 'ready' }>>()
    createInterface({ input: this.#child.stderr! }).on('line', line => {
      this.#stderrTail.push(line)
      if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift()
    })
    createInterface({ input: this.#child.stdout! }).on('line', line => {
      const report = parseReport(line)
      if (report === undefined) return
      if (report.sim === 'ready') resolve(report)
      else if (report.sim === 'reply') this.#pending.get(report.id)?.(report)
      else if (report.sim === 'fatal') this.#stderrTail.push(report.message)
      else this.#emitReport(report)
    })
    this.#child.once('exit', (code, signal) => {
      this.#exited = true
      const error = new DeviceProcessError(
        `device ${this.name} (pid ${this.pid}) exited with ${signal ?? `code ${code}`}` +
          (this.#stderrTail.length > 0 ? `:\n${this.#stderrTail.join('\n')}` : ''),
      )
      reject(error)
      for (const answer of this.#pending.values())
        answer({ sim: 'reply', id: -1, error: error.message })
      this.#pending.clear()
      this.emit('lost', { message: error.message })
    })
    return promise
  }

  #emitReport(report: Exclude<DeviceReport, { sim: 'ready' | 'reply' | 'fatal' }>): void {
    const { sim, ...payload } = report
    // each kind carries exactly its event's payload (device-protocol.ts)
    this.emit(sim, payload as never)
  }

  async #call(command: CommandBody): Promise<Extract<DeviceReport, { sim: 'reply' }>> {
    if (this.#exited) throw new DeviceProcessError(`device ${this.name} is not running`)
    const id = this.#nextId++
    const reply = new Promise<Extract<DeviceReport, { sim: 'reply' }>>(resolve =>
      this.#pending.set(id, resolve),
    )
    this.#child.stdin!.write(JSON.stringify({ ...command, id }) + '\n')
    const answer = await reply
    this.#pending.delete(id)
    if (answer.error !== undefined) {
      throw new DeviceProcessError(`device ${this.name}: ${command.cmd}: ${answer.error}`)
    }
    return answer
  }

  async seed(release: Release, revisionPath: string): Promise<string> {
    const encoded = Buffer.from(encodeRelease(release)).toString('base64')
    const reply = await this.#call({ cmd: 'seed', release: encoded, revisionPath })
    if (reply.releaseId === undefined) {
      throw new DeviceProcessError(`device ${this.name}: seed: no release id in the reply`)
    }
    return reply.releaseId
  }

  async stats(): Promise<SimDeviceStats> {
    const reply = await this.#call({ cmd: 'stats' })
    if (reply.stats === undefined) {
      throw new DeviceProcessError(`device ${this.name}: stats: none in the reply`)
    }
    return reply.stats
  }

  /** Asks the device to stop, then ends its stdin; the floor kills what is left. */
  async stop(): Promise<void> {
    if (this.#exited) return
    const exited = once(this.#child, 'exit')
    this.#child.stdin!.end(JSON.stringify({ cmd: 'stop', id: 0 }) + '\n')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }
}
