import { createCipheriv, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import canonicalize from 'canonicalize'
import tar from 'tar-stream'

/**
 * Makes a pvr export shaped like a real device revision — a BSP (kernel,
 * initrd, modules, firmware), two containers with root filesystems and
 * configs, a `_config` overlay — filled with deterministic incompressible
 * bytes, so a fresh clone can demonstrate a rollout with nothing else present.
 */
export interface GeneratedRevisionInit {
  /** file to write (gzip when it ends .tgz) */
  path: string
  /** approximate total object bytes. @default 24 MiB */
  totalBytes?: number
  /** what differs between generations: the app container and its config change. @default 1 */
  generation?: number
  /** seed of the byte generator, so two runs give identical revisions. @default 'pvswarm' */
  seed?: string
  /**
   * When set, the BSP's kernel.img is exactly this many bytes and every other object only a few
   * KiB (`totalBytes` is then unused): one large transfer, as benchmarks measure it.
   * @default undefined (bytes spread over every object as on a real device)
   */
  largeObjectBytes?: number
}

export interface GeneratedRevision {
  path: string
  stateSha256: string
  objectCount: number
  objectBytes: number
}

interface PlannedObject {
  key: string
  size: number
  /** seed of this object's bytes */
  seed: string
  text?: string
}

export async function generateRevision(init: GeneratedRevisionInit): Promise<GeneratedRevision> {
  const total = init.totalBytes ?? 24 * 1024 * 1024
  const generation = init.generation ?? 1
  const seed = init.seed ?? 'pvswarm'
  const planned = planObjects(total, generation, seed, init.largeObjectBytes)

  const shas = new Map<string, string>()
  for (const object of planned) shas.set(object.key, await hashObject(object))
  const state = buildState(planned, shas, generation)
  const stateBytes = Buffer.from(state)

  const pack = tar.pack()
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [
    pack as unknown as NodeJS.ReadableStream,
    ...(init.path.endsWith('.tgz') ? [createGzip({ level: 1 })] : []),
    createWriteStream(init.path),
  ]
  const output = pipeline(stages)
  await addEntry(pack, 'json', stateBytes.byteLength, [stateBytes])
  const written = new Set<string>()
  for (const object of [...planned].sort((a, b) => cmp(shas.get(a.key)!, shas.get(b.key)!))) {
    const sha = shas.get(object.key)!
    if (written.has(sha)) continue
    written.add(sha)
    await addEntry(pack, `objects/${sha}`, object.size, objectBytes(object))
  }
  pack.finalize()
  await output

  const distinct = new Map(planned.map(o => [shas.get(o.key)!, o.size]))
  return {
    path: init.path,
    stateSha256: createHash('sha256').update(stateBytes).digest('hex'),
    objectCount: distinct.size,
    objectBytes: [...distinct.values()].reduce((a, b) => a + b, 0),
  }
}

function planObjects(
  total: number,
  generation: number,
  seed: string,
  largeObjectBytes: number | undefined,
): PlannedObject[] {
  const share = (fraction: number): number =>
    largeObjectBytes === undefined ? Math.max(4096, Math.floor(total * fraction)) : 4096
  const app = `${seed}/sensor-app/${generation}`
  return [
    { key: 'bsp/kernel.img', size: largeObjectBytes ?? share(0.4), seed: `${seed}/kernel` },
    { key: 'bsp/pantavisor', size: share(0.04), seed: `${seed}/initrd` },
    { key: 'bsp/modules.squashfs', size: share(0.02), seed: `${seed}/modules` },
    { key: 'bsp/firmware.squashfs', size: 16384, seed: `${seed}/firmware` },
    { key: 'web/root.squashfs', size: share(0.44), seed: `${seed}/web` },
    { key: 'web/lxc.container.conf', size: 0, seed: '', text: lxcConfig('web') },
    { key: 'sensor-app/root.squashfs', size: share(0.1), seed: app },
    { key: 'sensor-app/lxc.container.conf', size: 0, seed: '', text: lxcConfig('sensor-app') },
    {
      key: '_config/web/etc/nginx/conf.d/site.conf',
      size: 0,
      seed: '',
      text: `server {\n  listen 8081;\n  # generation ${generation}\n  root /srv/www;\n}\n`,
    },
  ].map(o => (o.text === undefined ? o : { ...o, size: Buffer.byteLength(o.text) }))
}

function buildState(
  planned: PlannedObject[],
  shas: Map<string, string>,
  generation: number,
): string {
  const state: Record<string, unknown> = {
    '#spec': 'pantavisor-service-system@1',
    'bsp/run.json': {
      addons: [],
      firmware: 'firmware.squashfs',
      initrd: 'pantavisor',
      linux: 'kernel.img',
      modules: 'modules.squashfs',
    },
    'device.json': {
      groups: [
        { name: 'root', restart_policy: 'system', status_goal: 'STARTED', timeout: 30 },
        { name: 'app', restart_policy: 'container', status_goal: 'STARTED', timeout: 30 },
      ],
    },
    'sensor-app/run.json': runJson('sensor-app', 'app', 'container', generation),
    'web/run.json': runJson('web', 'root', 'system', 1),
  }
  for (const object of planned) state[object.key] = shas.get(object.key)
  // pvr writes states as canonical JSON; the generated one is too
  return canonicalize(state)!
}

function runJson(name: string, group: string, restartPolicy: string, generation: number): object {
  return {
    '#spec': 'service-manifest-run@1',
    config: 'lxc.container.conf',
    group,
    name,
    restart_policy: restartPolicy,
    'root-volume': 'root.squashfs',
    status_goal: 'STARTED',
    storage: { 'lxc-overlay': { persistence: 'boot' } },
    type: 'lxc',
    volumes: [],
    'x-generation': generation,
  }
}

function lxcConfig(name: string): string {
  return [
    `lxc.uts.name = ${name}`,
    'lxc.tty.max = 4',
    'lxc.pty.max = 1024',
    'lxc.cap.drop = sys_module mac_admin mac_override sys_time',
    'lxc.mount.auto = proc sys:mixed cgroup:mixed',
    `lxc.init.cmd = /usr/bin/${name}`,
    '',
  ].join('\n')
}

/** Deterministic incompressible bytes: AES-128-CTR keystream of the object's seed. */
async function* objectBytes(object: PlannedObject): AsyncGenerator<Uint8Array> {
  if (object.text !== undefined) {
    yield Buffer.from(object.text)
    return
  }
  const key = createHash('sha256').update(object.seed).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const blockBytes = 1024 * 1024
  const zeros = Buffer.alloc(blockBytes)
  for (let offset = 0; offset < object.size; offset += blockBytes) {
    const length = Math.min(blockBytes, object.size - offset)
    yield cipher.update(zeros.subarray(0, length))
  }
}

async function hashObject(object: PlannedObject): Promise<string> {
  const hash = createHash('sha256')
  for await (const piece of objectBytes(object)) hash.update(piece)
  return hash.digest('hex')
}

async function addEntry(
  pack: tar.Pack,
  name: string,
  size: number,
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<void> {
  const entry = pack.entry({ name, size, mode: 0o644, mtime: new Date(0), type: 'file' })
  for await (const piece of bytes) {
    if (!entry.write(piece))
      await new Promise<void>(resolve => entry.once('drain', () => resolve()))
  }
  await new Promise<void>((resolve, reject) => {
    entry.once('finish', () => resolve())
    entry.once('error', (err: Error) => reject(err))
    entry.end(undefined)
  })
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
