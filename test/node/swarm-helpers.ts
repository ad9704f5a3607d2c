import { spawn, type ChildProcess } from 'node:child_process'
import type { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'
import { pino, type Logger } from 'pino'
import { createSwarmNode, type SwarmNode, type SwarmNodeOptions } from '../../src/node/index.js'
import { repoRoot } from '../fixtures.js'

/** A temp directory removed when the test ends. */
export async function tempDir(t: TestContext, label = 'swarm'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pvswarm-${label}-`))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A started node on loopback with mDNS off (multicast would leave the
 * machine), exempt from the inbound rate limit, stopped when the test ends.
 */
export async function startLoopbackNode(
  t: TestContext,
  options: Partial<SwarmNodeOptions> = {},
): Promise<SwarmNode> {
  const node = await createLoopbackNode(t, options)
  await node.start()
  return node
}

export async function createLoopbackNode(
  t: TestContext,
  options: Partial<SwarmNodeOptions> = {},
): Promise<SwarmNode> {
  const node = await createSwarmNode({
    dataDir: options.dataDir ?? (await tempDir(t, 'node')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    allowHosts: ['/ip4/127.0.0.0/ipcidr/8'],
    ...options,
  })
  t.after(() => node.stop())
  return node
}

/** The node's first address, with /p2p/<id>, for another node's staticPeers. */
export function addressOf(node: SwarmNode): string {
  const address = node.libp2p.getMultiaddrs()[0]
  if (address == null) {
    throw new Error(`node ${node.peerId.toString()} has no address; was it started?`)
  }
  return address.toString()
}

/**
 * Resolves with the first event `name` whose argument passes `match`;
 * rejects after `timeoutMs` naming what it waited for.
 */
export function nextEvent<T>(
  emitter: EventEmitter<any>,
  name: string,
  match: (value: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (value: T): void => {
      if (match(value)) {
        clearTimeout(timer)
        emitter.off(name, listener)
        resolve(value)
      }
    }
    const timer = setTimeout(() => {
      emitter.off(name, listener)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${name}'`))
    }, timeoutMs)
    emitter.on(name, listener)
  })
}

/** A pino logger that keeps every record, for asserting what was logged. */
export function capturingLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = []
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) },
  )
  return { logger, records }
}

/** The script a node process runs (see swarm-node-process.ts). */
export const NODE_PROCESS_SCRIPT = join(repoRoot, 'dist', 'test', 'node', 'swarm-node-process.js')

export interface NodeProcessEvent {
  event: string
  peerId?: string
  addresses?: string[]
  [key: string]: unknown
}

/** A node running in a child process, talking JSON lines on stdout. */
export class NodeProcess {
  readonly child: ChildProcess
  readonly events: NodeProcessEvent[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly #waiters = new Set<() => void>()
  #stderr = ''

  constructor(child: ChildProcess) {
    this.child = child
    this.exited = new Promise(resolve => {
      child.once('exit', (code, signal) => {
        resolve({ code, signal })
        this.#wake()
      })
    })
    if (child.stdout != null) {
      createInterface({ input: child.stdout }).on('line', line => {
        try {
          this.events.push(JSON.parse(line) as NodeProcessEvent)
        } catch {
          this.events.push({ event: 'unparsed', line })
        }
        this.#wake()
      })
    }
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString()
    })
  }

  /** Starts `node dist/test/node/swarm-node-process.js <config>` on this host. */
  static spawnLocal(config: NodeProcessConfig): NodeProcess {
    const child = spawn(process.execPath, [NODE_PROCESS_SCRIPT, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    return new NodeProcess(child)
  }

  get stderr(): string {
    return this.#stderr
  }

  /** Resolves with the first event (already seen or still to come) that matches. */
  async waitFor(
    match: (e: NodeProcessEvent) => boolean,
    timeoutMs = 10_000,
  ): Promise<NodeProcessEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find(match)
      if (found != null) {
        return found
      }
      if (this.child.exitCode != null || this.child.signalCode != null) {
        throw new Error(`node process exited before the awaited event; stderr: ${this.#stderr}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new Error(
          `timed out after ${timeoutMs} ms; events so far: ${JSON.stringify(this.events)}; stderr: ${this.#stderr}`,
        )
      }
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, left)
        this.#waiters.add(done)
        function done(): void {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters) {
      waiter()
    }
    this.#waiters.clear()
  }
}

/** What swarm-node-process.ts is told on its command line. */
export interface NodeProcessConfig {
  dataDir: string
  listen?: string[]
  staticPeers?: string[]
  mdns?: SwarmNodeOptions['mdns']
  dht?: boolean
  liveness?: SwarmNodeOptions['liveness']
  allowHosts?: string[]
}
