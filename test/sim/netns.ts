import {
  execFile,
  execFileSync,
  spawn,
  type ChildProcess,
  type SpawnOptions,
} from 'node:child_process'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { PvswarmError } from '../../src/util/errors.js'
import { onTeardown } from './teardown.js'

const execFileAsync = promisify(execFile)

/** An `ip` or `tc` command failed: names the command and what it printed. */
export class NetnsCommandError extends PvswarmError {
  static override readonly name = 'NetnsCommandError'
}

/** Namespaces cannot be made here (not root, no iproute2…): says why. */
export class NetnsUnavailableError extends PvswarmError {
  static override readonly name = 'NetnsUnavailableError'
}

/** Every namespace this module creates starts with this, followed by the creating pid. */
export const NAMESPACE_PREFIX = 'pvsim-'

/** Options of a floor of namespaces on one bridge. */
export interface NetnsFloorInit {
  /** hosts (one namespace each) on the bridge */
  hosts: number
  /** rate of each host's link in Mbit/s, capped in both directions; 0 leaves links unshaped */
  linkMbit: number
  /**
   * tbf bucket: bytes that may pass at line rate before the rate applies.
   * @default max(32 KiB, 10 ms of the rate)
   */
  burstBytes?: number
  /**
   * tbf queue on the bridge side (the switch port towards the host): how long a packet may wait
   * before it is dropped. @default 50
   */
  queueLatencyMs?: number
  /**
   * Packets the host's own end of its link may queue (its NIC's transmit queue; Linux's
   * txqueuelen is 1000). A host does not drop what its own TCP sends: TCP small queues hold
   * each socket back instead, so a pong or a request is not lost behind bulk uploads.
   * @default 1000
   */
  hostQueuePackets?: number
  /**
   * TCP congestion control inside the namespaces. Devices run Linux's default, the loss-based
   * cubic; a new namespace may only pick from the host's allowed list (here "reno bbr"), and
   * this machine's kernel defaults to bbr, which on these short switch queues kept losing a
   * quarter of what it sent. reno is loss-based like cubic, and at LAN round trips the two
   * grow their windows alike. '' keeps the kernel's default.
   * @default 'reno'
   */
  congestionControl?: string
}

/** One host: a namespace whose `eth0` is a veth into the bridge of the hub namespace. */
export interface NetnsHost {
  index: number
  /** namespace name (`ip netns exec <namespace> …`) */
  namespace: string
  /** IPv4 address of eth0 */
  address: string
  /** the host's end of the link, inside its namespace */
  interfaceName: string
  /** the bridge's end of the link, inside the hub namespace */
  hubInterfaceName: string
}

/** Bytes that left each end of one host's link, as the tbf qdiscs counted them. */
export interface LinkCounters {
  /** sent by the host (its upload), counted by the tbf on its eth0 */
  uploadBytes: number
  /** sent towards the host (its download), counted by the tbf on the bridge side */
  downloadBytes: number
  /** packets the two tbf queues dropped */
  drops: number
}

const HOST_INTERFACE = 'eth0'
const ETHERNET_FRAME_BYTES = 1514
const CONGESTION_CONTROL = 'net.ipv4.tcp_congestion_control'
const BRIDGE = 'br0'
const SUBNET_PREFIX_BITS = 16
const MAX_HOSTS = 60_000
const KILL_GRACE_MS = 3_000
let floorsMade = 0

/**
 * A floor of Linux network namespaces: one hub namespace holding a bridge,
 * and one namespace per host linked to it by a veth pair. Nothing is created
 * in the namespace the caller runs in, so no host interface, route or
 * address is touched, and deleting the namespaces removes every link.
 *
 * `tbf` shapes only what leaves an interface, so each link is shaped at both
 * ends: the host's eth0 caps its upload with a NIC's long transmit queue, the
 * bridge side caps its download with a switch port's short drop-tail queue.
 * Hosts reach 224.0.0.0/4 through eth0, so mDNS works across the bridge.
 *
 * Everything is torn down by `destroy()`, and also when the process gets
 * SIGINT/SIGTERM or exits (see teardown.ts): first the processes started in
 * the namespaces, then the namespaces.
 */
export class NetnsFloor {
  readonly hub: string
  readonly hosts: readonly NetnsHost[]
  readonly #children = new Set<ChildProcess>()
  readonly #namespaces: string[] = []
  readonly #release: () => Promise<void>

  private constructor(hub: string, hosts: NetnsHost[]) {
    this.hub = hub
    this.hosts = hosts
    this.#release = onTeardown({
      what: `network namespaces ${hub}…`,
      cleanup: () => this.#teardown(),
      cleanupSync: () => this.#teardownSync(),
    })
  }

  /**
   * Creates the hub, the bridge and every host with its shaped link.
   *
   * @throws NetnsUnavailableError when not root or iproute2 is missing
   * @throws NetnsCommandError when a command fails (everything made so far is removed)
   */
  static async create(init: NetnsFloorInit): Promise<NetnsFloor> {
    checkInit(init)
    await checkNetnsSupport()
    await sweepStaleNamespaces()

    const base = `${NAMESPACE_PREFIX}${process.pid}-${floorsMade++}`
    const hub = `${base}-hub`
    const hosts: NetnsHost[] = []
    for (let index = 0; index < init.hosts; index++) {
      hosts.push({
        index,
        namespace: `${base}-${index}`,
        address: hostAddress(index),
        interfaceName: HOST_INTERFACE,
        hubInterfaceName: `h${index}`,
      })
    }

    const floor = new NetnsFloor(hub, hosts)
    try {
      await floor.#build(init)
    } catch (err) {
      await floor.destroy()
      throw err
    }
    return floor
  }

  async #build(init: NetnsFloorInit): Promise<void> {
    await this.#addNamespace(this.hub)
    await ip(['-n', this.hub, 'link', 'set', 'lo', 'up'])
    await ip(['-n', this.hub, 'link', 'add', BRIDGE, 'type', 'bridge'])
    // 224.0.0.x is flooded anyway; snooping off keeps other groups from being pruned too
    await ip(['-n', this.hub, 'link', 'set', BRIDGE, 'type', 'bridge', 'mcast_snooping', '0'])
    await ip(['-n', this.hub, 'link', 'set', BRIDGE, 'up'])

    for (const host of this.hosts) {
      const ns = host.namespace
      await this.#addNamespace(ns)
      await ip(
        ['-n', this.hub, 'link', 'add', host.hubInterfaceName, 'type', 'veth'].concat([
          'peer',
          'name',
          host.interfaceName,
          'netns',
          ns,
        ]),
      )
      await ip(['-n', this.hub, 'link', 'set', host.hubInterfaceName, 'master', BRIDGE])
      await ip(['-n', this.hub, 'link', 'set', host.hubInterfaceName, 'up'])
      await ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      await ip([
        '-n',
        ns,
        'addr',
        'add',
        `${host.address}/${SUBNET_PREFIX_BITS}`,
        'dev',
        HOST_INTERFACE,
      ])
      await ip(['-n', ns, 'link', 'set', HOST_INTERFACE, 'up'])
      await ip(['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', HOST_INTERFACE])
      const congestionControl = init.congestionControl ?? 'reno'
      if (congestionControl !== '') {
        await run('ip', [
          'netns',
          'exec',
          ns,
          'sysctl',
          '-qw',
          `${CONGESTION_CONTROL}=${congestionControl}`,
        ])
      }
      if (init.linkMbit > 0) {
        await tc(['-n', ns, 'qdisc', 'add', 'dev', HOST_INTERFACE, 'root', ...hostShape(init)])
        await tc([
          '-n',
          this.hub,
          'qdisc',
          'add',
          'dev',
          host.hubInterfaceName,
          'root',
          ...switchShape(init),
        ])
      }
    }
  }

  async #addNamespace(name: string): Promise<void> {
    await ip(['netns', 'add', name])
    this.#namespaces.push(name)
  }

  /**
   * Starts a process inside a host's namespace (`ip netns exec` replaces
   * itself with the command, so the child's pid is the command's). It is
   * stopped by destroy() if it is still running then.
   */
  spawn(
    host: NetnsHost,
    command: string,
    args: string[],
    options: SpawnOptions = {},
  ): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', host.namespace, command, ...args], options)
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return child
  }

  /** What each end of a host's link sent, as its tbf counted it. */
  async linkCounters(host: NetnsHost): Promise<LinkCounters> {
    const up = await qdiscCounters(host.namespace, host.interfaceName)
    const down = await qdiscCounters(this.hub, host.hubInterfaceName)
    return { uploadBytes: up.bytes, downloadBytes: down.bytes, drops: up.drops + down.drops }
  }

  /** Stops the processes started here, then deletes every namespace. Safe to call twice. */
  destroy(): Promise<void> {
    return this.#release()
  }

  async #teardown(): Promise<void> {
    await Promise.all([...this.#children].map(child => stopChild(child)))
    const failures: string[] = []
    for (const ns of [...this.#namespaces].reverse()) {
      try {
        await killNamespaceProcesses(ns)
        await ip(['netns', 'del', ns])
      } catch (err) {
        if (await namespaceExists(ns)) failures.push(`${ns}: ${(err as Error).message}`)
      }
    }
    this.#namespaces.length = 0
    if (failures.length > 0) {
      throw new NetnsCommandError(`could not delete namespaces: ${failures.join('; ')}`)
    }
  }

  #teardownSync(): void {
    for (const child of this.#children) {
      if (child.pid !== undefined) killQuietly(child.pid, 'SIGKILL')
    }
    for (const ns of [...this.#namespaces].reverse()) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        for (const pid of pids.split(/\s+/).filter(Boolean)) killQuietly(Number(pid), 'SIGKILL')
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
      } catch {
        // gone already, or nothing more can be done while exiting
      }
    }
    this.#namespaces.length = 0
  }
}

function checkInit(init: NetnsFloorInit): void {
  if (!Number.isInteger(init.hosts) || init.hosts < 1 || init.hosts > MAX_HOSTS) {
    throw new RangeError(`hosts: expected an integer 1…${MAX_HOSTS}, got ${init.hosts}`)
  }
  if (!Number.isFinite(init.linkMbit) || init.linkMbit < 0) {
    throw new RangeError(`linkMbit: expected a rate ≥ 0 in Mbit/s, got ${init.linkMbit}`)
  }
}

/** 10.77.0.0/16: host 0 is 10.77.0.2; the subnet exists only inside these namespaces. */
function hostAddress(index: number): string {
  const n = index + 2
  return `10.77.${Math.floor(n / 256)}.${n % 256}`
}

/** The host's upload: its NIC at the link rate, with a NIC's transmit queue. */
function hostShape(init: NetnsFloorInit): string[] {
  const limitBytes = (init.hostQueuePackets ?? 1000) * ETHERNET_FRAME_BYTES
  return ['tbf', ...tbfRate(init), 'limit', `${limitBytes}`]
}

/** The host's download: the switch port towards it, with a short drop-tail queue. */
function switchShape(init: NetnsFloorInit): string[] {
  return ['tbf', ...tbfRate(init), 'latency', `${init.queueLatencyMs ?? 50}ms`]
}

function tbfRate(init: NetnsFloorInit): string[] {
  const rateBytesPerSecond = (init.linkMbit * 1e6) / 8
  const burst = init.burstBytes ?? Math.max(32 * 1024, Math.ceil(rateBytesPerSecond / 100))
  return ['rate', `${init.linkMbit}mbit`, 'burst', `${burst}`]
}

async function run(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { encoding: 'utf8' })
    return stdout
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: string | number }
    const detail =
      e.code === 'ENOENT' ? `${command} not found` : (e.stderr ?? '').trim() || e.message
    throw new NetnsCommandError(`${command} ${args.join(' ')}: ${detail}`, { cause: err })
  }
}

const ip = (args: string[]): Promise<string> => run('ip', args)
const tc = (args: string[]): Promise<string> => run('tc', args)

async function qdiscCounters(ns: string, dev: string): Promise<{ bytes: number; drops: number }> {
  const out = await tc(['-n', ns, '-s', 'qdisc', 'show', 'dev', dev])
  // "Sent 123 bytes 4 pkt (dropped 0, overlimits 0 requeues 0)" of the root tbf
  const match = /Sent (\d+) bytes \d+ pkt \(dropped (\d+)/.exec(out)
  if (match === null)
    throw new NetnsCommandError(
      `tc -s qdisc show dev ${dev} in ${ns}: no counters in ${JSON.stringify(out)}`,
    )
  return { bytes: Number(match[1]), drops: Number(match[2]) }
}

/** The rate the root tbf of an interface applies, in bit/s, or undefined when it has none. */
export async function tbfRateBitsPerSecond(ns: string, dev: string): Promise<number | undefined> {
  const out = await tc(['-n', ns, 'qdisc', 'show', 'dev', dev])
  const match = /qdisc tbf \S+ root .*?rate (\d+(?:\.\d+)?)([KMG]?)bit/.exec(out)
  if (match === null) return undefined
  const unit = { '': 1, K: 1e3, M: 1e6, G: 1e9 }[match[2] as '' | 'K' | 'M' | 'G']
  return Number(match[1]) * unit
}

/** Names of the namespaces that exist now. */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list'])
  return out
    .split('\n')
    .map(line => line.split(' ')[0] ?? '')
    .filter(name => name !== '')
}

async function namespaceExists(ns: string): Promise<boolean> {
  return (await listNamespaces().catch((): string[] => [])).includes(ns)
}

/**
 * Removes namespaces this module made in a process that no longer runs (it
 * was killed with SIGKILL, so no teardown ran). Returns their names.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const swept: string[] = []
  for (const ns of await listNamespaces()) {
    const match = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-`).exec(ns)
    if (match === null || isAlive(Number(match[1]))) continue
    await killNamespaceProcesses(ns)
    await ip(['netns', 'del', ns])
    swept.push(ns)
  }
  return swept
}

/**
 * Resolves when namespaces can be made here; otherwise rejects with the
 * reason (callers that may skip, such as tests, print it).
 */
export async function checkNetnsSupport(): Promise<void> {
  if (process.platform !== 'linux') {
    throw new NetnsUnavailableError(`network namespaces need Linux, this is ${process.platform}`)
  }
  if (process.getuid?.() !== 0) {
    throw new NetnsUnavailableError('network namespaces need root (uid 0)')
  }
  try {
    await execFileAsync('ip', ['netns', 'list'])
    await execFileAsync('tc', ['-V'])
  } catch (err) {
    throw new NetnsUnavailableError(`iproute2 (ip, tc) is needed: ${(err as Error).message}`)
  }
}

/** Processes still inside a namespace this module made: started by this simulator. */
async function killNamespaceProcesses(ns: string): Promise<void> {
  let out: string
  try {
    out = await ip(['netns', 'pids', ns])
  } catch {
    return
  }
  const pids = out.split(/\s+/).filter(Boolean).map(Number)
  for (const pid of pids) killQuietly(pid, 'SIGKILL')
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS)
  try {
    await exited
  } finally {
    clearTimeout(timer)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}
