import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import * as tar from 'tar-stream'
import type { Uint8ArrayList } from 'uint8arraylist'
import {
  createExchange,
  type Exchange,
  type ExchangeOptions,
  type ExchangeStore,
  type OfferResult,
  type PartialObject,
  type ReleaseBook,
  type ReleaseContent,
  type ReleaseSummary,
} from '../../src/exchange/index.js'
import { ChunkMismatchError, ChunkSizeError, openStore, type Store } from '../../src/store/index.js'
import { revisionFixture } from '../fixtures.js'

export const MiB = 1024 * 1024

/** sha256 hex of bytes, whole or in the pieces they arrived in. */
export function sha256Of(bytes: Uint8Array | Iterable<Uint8Array>): string {
  const hash = createHash('sha256')
  for (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) hash.update(piece)
  return hash.digest('hex')
}

/** Every object of a fixture revision export, by sha256. */
export async function revisionObjects(
  name: 'rev1' | 'rev2' | 'rev3',
): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>()
  const extract = tar.extract()
  const piping = pipeline(createReadStream(revisionFixture(name)), createGunzip(), extract)
  for await (const entry of extract) {
    const pieces: Buffer[] = []
    for await (const piece of entry) pieces.push(piece as Buffer)
    const match = /^objects\/([0-9a-f]{64})$/.exec(entry.header.name)
    if (match !== null) objects.set(match[1]!, Buffer.concat(pieces))
  }
  await piping
  return objects
}

/** A release's content for some objects: sizes and chunk hashes computed here. */
export function contentOf(objects: Map<string, Uint8Array>, chunkBytes: number): ReleaseContent {
  const entries = [...objects.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
  return {
    chunkBytes,
    objects: entries.map(([sha256, bytes]) => {
      const chunks: string[] = []
      for (let at = 0; at < Math.max(1, bytes.byteLength); at += chunkBytes) {
        chunks.push(sha256Of(bytes.subarray(at, at + chunkBytes)))
      }
      return { sha256, size: bytes.byteLength, chunks }
    }),
  }
}

/** A release as these tests pass it around: JSON bytes whose sha256 is its id. */
export interface TestRelease {
  summary: ReleaseSummary
  bytes: Uint8Array
  content: ReleaseContent
}

export function makeRelease(fleet: string, sequence: number, content: ReleaseContent): TestRelease {
  const bytes = new TextEncoder().encode(JSON.stringify({ fleet, sequence, content }))
  return { summary: { fleet, sequence, releaseId: sha256Of(bytes) }, bytes, content }
}

/** The composition's side, kept in memory: accepted releases and the offers received. */
export class MemoryBook implements ReleaseBook {
  readonly accepted = new Map<string, TestRelease>()
  readonly offers: Array<{ releaseId: string; from: string; result: OfferResult }> = []
  /** refuse every release a peer offers (as policy would a release this device must not take) */
  refusesOffers = false

  accept(release: TestRelease): void {
    this.accepted.set(release.summary.releaseId, release)
  }

  async newest(): Promise<ReleaseSummary[]> {
    const byFleet = new Map<string, ReleaseSummary>()
    for (const { summary } of this.accepted.values()) {
      const held = byFleet.get(summary.fleet)
      if (held === undefined || held.sequence < summary.sequence)
        byFleet.set(summary.fleet, summary)
    }
    return [...byFleet.values()]
  }

  async releaseBytes(releaseId: string): Promise<Uint8Array | undefined> {
    return this.accepted.get(releaseId)?.bytes
  }

  async servable(releaseId: string): Promise<ReleaseContent | undefined> {
    return this.accepted.get(releaseId)?.content
  }

  /** Accepts any well-formed test release it does not hold yet (unless it refuses offers). */
  readonly offer = async (bytes: Uint8Array, from: PeerId): Promise<OfferResult> => {
    const releaseId = sha256Of(bytes)
    let result: OfferResult
    if (this.accepted.has(releaseId)) result = 'known'
    else if (this.refusesOffers) result = 'refused'
    else {
      const parsed = JSON.parse(new TextDecoder().decode(bytes)) as {
        fleet: string
        sequence: number
        content: ReleaseContent
      }
      this.accept({
        summary: { fleet: parsed.fleet, sequence: parsed.sequence, releaseId },
        bytes,
        content: parsed.content,
      })
      result = 'accepted'
    }
    this.offers.push({ releaseId, from: from.toString(), result })
    return result
  }
}

/**
 * A libp2p node on loopback with tcp, noise and yamux, window and read buffer sized together
 * (4 MiB and 8 MiB, or `maxWindowBytes` and twice that).
 */
export async function createTestNode(options: { maxWindowBytes?: number } = {}): Promise<Libp2p> {
  const window = options.maxWindowBytes
  const streamOptions =
    window === undefined
      ? { maxStreamWindowSize: 4 * MiB, maxReadBufferLength: 8 * MiB }
      : {
          initialStreamWindowSize: window,
          maxStreamWindowSize: window,
          maxReadBufferLength: 2 * window,
        }
  return createLibp2p({
    // every test peer dials from 127.0.0.1: the default allows 5 inbound connections a second
    connectionManager: { inboundConnectionThreshold: 1000 },
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions })],
  })
}

export interface TestDevice {
  node: Libp2p
  store: Store
  book: MemoryBook
  exchange: Exchange
  peer: string
}

/** Temp directories made by these tests, removed by cleanup(). */
export class Scratch {
  readonly #dirs: string[] = []
  readonly #devices: TestDevice[] = []

  async dir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'pvswarm-exchange-'))
    this.#dirs.push(dir)
    return dir
  }

  /** A device: node + real store in a temp dir + book + started exchange. */
  async device(
    options: ExchangeOptions = {},
    wrapStore: (store: Store) => ExchangeStore = store => store,
    dataDir?: string,
  ): Promise<TestDevice> {
    const node = await createTestNode()
    const store = await openStore({ dataDir: dataDir ?? (await this.dir()) })
    const book = new MemoryBook()
    const exchange = createExchange({
      node,
      store: wrapStore(store),
      book,
      offerRelease: book.offer,
      options,
    })
    await exchange.start()
    const device = { node, store, book, exchange, peer: node.peerId.toString() }
    this.#devices.push(device)
    return device
  }

  /** Stops a device as a power cut would leave it: the store's files stay. */
  async stop(device: TestDevice): Promise<void> {
    const at = this.#devices.indexOf(device)
    if (at >= 0) this.#devices.splice(at, 1)
    await device.exchange.stop()
    await device.node.stop()
    await device.store.close()
  }

  async cleanup(): Promise<void> {
    for (const device of [...this.#devices]) await this.stop(device)
    for (const dir of this.#dirs) await rm(dir, { recursive: true, force: true })
  }
}

/** Puts whole objects into a device's store and accepts the release there: a seed. */
export async function seed(
  device: TestDevice,
  release: TestRelease,
  objects: Map<string, Uint8Array>,
): Promise<void> {
  for (const object of release.content.objects) {
    const bytes = objects.get(object.sha256)!
    await device.store.put(object.sha256, bytes.byteLength, [bytes])
  }
  device.book.accept(release)
}

/**
 * A device whose store holds every object of `release` but which has not accepted it, and
 * refuses it when a peer offers it (as policy would), so it stays unaccepted until the test says.
 */
export async function holderNotAccepting(
  scratch: Scratch,
  release: TestRelease,
  objects: Map<string, Uint8Array>,
): Promise<TestDevice> {
  const holder = await scratch.device()
  await seed(holder, release, objects)
  holder.book.accepted.clear()
  holder.book.refusesOffers = true
  return holder
}

export async function connect(a: TestDevice, b: TestDevice): Promise<void> {
  await a.node.dial(b.node.getMultiaddrs()[0]!)
}

/** Reads a whole complete object back from a store. */
export async function readObject(store: Store, sha256: string): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of store.read(sha256)) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces)
}

/** An in-memory partial object that verifies like the store's. */
class MemoryPartial implements PartialObject {
  readonly chunkCount: number
  constructor(
    private readonly owner: MemoryStore,
    readonly sha256: string,
    readonly size: number,
    readonly chunkBytes: number,
    readonly chunkSha256: readonly string[],
    readonly held: Map<number, Uint8Array>,
  ) {
    this.chunkCount = chunkSha256.length
  }
  has(index: number): boolean {
    return this.held.has(index)
  }
  missing(): number[] {
    return [...Array(this.chunkCount).keys()].filter(i => !this.held.has(i))
  }
  get verifiedCount(): number {
    return this.held.size
  }
  isComplete(): boolean {
    return this.held.size === this.chunkCount
  }
  async writeChunk(
    index: number,
    bytes: Uint8Array | Uint8ArrayList,
  ): Promise<'stored' | 'already'> {
    this.owner.writes.push({ sha256: this.sha256, index, bytes: bytes.byteLength })
    const expected = Math.max(0, Math.min(this.chunkBytes, this.size - index * this.chunkBytes))
    if (bytes.byteLength !== expected) {
      throw new ChunkSizeError(this.sha256, index, expected, bytes.byteLength)
    }
    const got = sha256Of(bytes)
    if (got !== this.chunkSha256[index]) {
      this.owner.refused.push({ sha256: this.sha256, index })
      throw new ChunkMismatchError(this.sha256, index, this.chunkSha256[index]!, got)
    }
    if (this.held.has(index)) return 'already'
    this.held.set(index, bytes instanceof Uint8Array ? new Uint8Array(bytes) : bytes.slice())
    return 'stored'
  }
  async readChunk(index: number): Promise<Uint8Array | undefined> {
    return this.held.get(index)
  }
  async close(): Promise<void> {}
}

/** A store in memory: partial chunks survive close/re-open, as on disk. */
export class MemoryStore implements ExchangeStore {
  readonly partials = new Map<string, Map<number, Uint8Array>>()
  readonly writes: Array<{ sha256: string; index: number; bytes: number }> = []
  /** writes refused because the chunk did not match its hash */
  readonly refused: Array<{ sha256: string; index: number }> = []

  /** Objects are only ever partial here: a finished one stays a full partial. */
  async has(): Promise<boolean> {
    return false
  }
  async readChunk(sha256: string, index: number): Promise<Uint8Array | undefined> {
    return this.partials.get(sha256)?.get(index)
  }
  async chunkMap(): Promise<Uint8Array | undefined> {
    return undefined
  }
  async openPartial(spec: {
    sha256: string
    size: number
    chunkBytes: number
    chunkSha256: readonly string[]
  }): Promise<PartialObject> {
    let held = this.partials.get(spec.sha256)
    if (held === undefined) {
      held = new Map()
      this.partials.set(spec.sha256, held)
    }
    return new MemoryPartial(this, spec.sha256, spec.size, spec.chunkBytes, spec.chunkSha256, held)
  }
}
