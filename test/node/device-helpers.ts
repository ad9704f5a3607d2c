import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { resolveDaemonConfig, type DaemonConfig } from '../../src/node/config.js'
import { startDevice, type RunningDevice, type StartDeviceExtras } from '../../src/node/daemon.js'
import {
  createRelease,
  describingSink,
  generateReleaseKey,
  signRelease,
  type Release,
  type ReleaseKeyPair,
} from '../../src/release/index.js'
import { importRevision } from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'

/** A temp directory removed when the test ends. */
export async function tempDir(
  t: { after(fn: () => Promise<void>): void },
  prefix: string,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pvswarm-${prefix}-`))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const releaseCache = new Map<
  string,
  {
    revision: Awaited<ReturnType<typeof importRevision>>['revision']
    objects: ReturnType<typeof describingSink>['described']
  }
>()

/** A signed release of a fixture revision (objects described once per run). */
export async function fixtureRelease(
  name: 'rev1' | 'rev2' | 'rev3',
  key: ReleaseKeyPair,
  sequence: number,
  fleet = 'floor',
  chunkBytes = 1024 * 1024,
): Promise<Release> {
  const cacheKey = `${name}/${chunkBytes}`
  let described = releaseCache.get(cacheKey)
  if (described === undefined) {
    const sink = describingSink(chunkBytes)
    const { revision } = await importRevision(revisionFixture(name), sink)
    described = { revision, objects: sink.described }
    releaseCache.set(cacheKey, described)
  }
  return signRelease(
    createRelease({
      revision: described.revision,
      objects: [...described.objects.values()],
      fleet,
      sequence,
      chunkBytes,
    }),
    key,
  )
}

export interface TestFloor {
  key: ReleaseKeyPair
  devices: RunningDevice[]
  start(
    name: string,
    overrides?: Partial<DaemonConfig>,
    extras?: StartDeviceExtras,
  ): Promise<RunningDevice>
}

/** Devices on loopback that find each other through static peers (no mDNS in unit tests). */
export async function testFloor(t: { after(fn: () => Promise<void>): void }): Promise<TestFloor> {
  const root = await mkdtemp(join(tmpdir(), 'pvswarm-floor-'))
  const key = generateReleaseKey()
  const devices: RunningDevice[] = []
  t.after(async () => {
    await Promise.all(devices.map(d => d.stop().catch(() => {})))
    await rm(root, { recursive: true, force: true })
  })
  return {
    key,
    devices,
    async start(name, overrides = {}, extras = {}) {
      const config = resolveDaemonConfig(
        {},
        {
          data: join(root, name),
          fleet: 'floor',
          trust: [key.publicKey],
          listen: ['/ip4/127.0.0.1/tcp/0'],
          mdns: false,
          dht: false,
          pvctrl: 'none',
          logLevel: 'silent',
          ...overrides,
        },
      )
      const device = await startDevice(config, {
        logger: pino({ level: process.env.PVSWARM_TEST_LOG ?? 'silent' }).child({ device: name }),
        allowHosts: ['/ip4/127.0.0.1'],
        ...extras,
      })
      devices.push(device)
      return device
    },
  }
}

/** Multiaddr of a running device's first address, with its peer id. */
export function addressOf(device: RunningDevice): string {
  const address = device.device.network.libp2p.getMultiaddrs()[0]
  if (address === undefined) throw new Error('device has no address')
  return address.toString()
}

/** A pino logger whose lines land in `lines`, parsed; the sink emits 'line' for each. */
export function capturedLogger(lines: Array<Record<string, unknown>>) {
  const sink: Writable = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue
        lines.push(JSON.parse(line))
        sink.emit('line')
      }
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, sink), sink }
}
