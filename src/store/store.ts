import { readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  bitmapOf,
  checkChunkSpec,
  chunkCountOf,
  sameSpec,
  type ChunkedObjectSpec,
} from './chunks.js'
import { DEFAULT_RESERVE_BYTES } from './constants.js'
import { DeviceStateFile } from './device-state.js'
import { ObjectNotFoundError, PartialConflictError, StoreClosedError } from './errors.js'
import { isNotFound } from './fs-util.js'
import type { DeviceState, FsckReport, PartialObject, Store, StoreOptions } from './index.js'
import { checkId, DIR_MODE, Layout } from './layout.js'
import { acquireLock } from './lock.js'
import { fsck, gc, type MaintenanceContext } from './maintenance.js'
import { ObjectFiles } from './objects.js'
import { PartialCore, type PartialContext } from './partial.js'
import {
  closedPartialChunkMap,
  discardPartialFiles,
  partialIds,
  readClosedPartialChunk,
} from './partial-files.js'
import { PartialHandle } from './partial-handle.js'
import { ReleaseFiles } from './releases.js'
import { Serial } from './serial.js'
import { SpaceLedger, statFreeBytes } from './space.js'
import { makeDirectory } from '../util/make-directory.js'

/** The Store behind openStore(). */
export class DiskStore implements Store {
  readonly dataDir: string
  readonly #objects: ObjectFiles
  readonly #releases: ReleaseFiles
  readonly #deviceState: DeviceStateFile
  readonly #partials = new Map<string, { core: PartialCore; refs: number }>()
  /** Opening, closing, checking and removing partials happen one at a time. */
  readonly #gate = new Serial()
  #closed = false

  private constructor(
    private readonly layout: Layout,
    private readonly ledger: SpaceLedger,
    objects: ObjectFiles,
    private readonly unlock: () => Promise<void>,
  ) {
    this.dataDir = layout.dataDir
    this.#objects = objects
    this.#releases = new ReleaseFiles(layout)
    this.#deviceState = new DeviceStateFile(layout)
  }

  static async open(options: StoreOptions): Promise<DiskStore> {
    const reserveBytes = options.reserveBytes ?? DEFAULT_RESERVE_BYTES
    if (!Number.isSafeInteger(reserveBytes) || reserveBytes < 0) {
      throw new RangeError(`reserveBytes ${reserveBytes} is not a non-negative integer`)
    }
    const layout = new Layout(resolve(options.dataDir))
    await makeDirectory(layout.dataDir, DIR_MODE)
    for (const dir of layout.directories) await makeDirectory(dir, DIR_MODE)

    const statFree = options.statFreeBytes ?? statFreeBytes
    const ledger = new SpaceLedger(layout.dataDir, reserveBytes, statFree)
    const objects = new ObjectFiles(layout, ledger)

    const unlock = await acquireLock(layout)
    try {
      await clearTmp(layout)
      // A crash between publishing an object and removing its partial's files leaves these.
      for (const sha256 of await partialIds(layout)) {
        if (await objects.has(sha256)) await discardPartialFiles(layout, sha256)
      }
    } catch (err) {
      await unlock()
      throw err
    }
    return new DiskStore(layout, ledger, objects, unlock)
  }

  async has(sha256: string): Promise<boolean> {
    this.#check()
    return this.#objects.has(sha256)
  }

  async size(sha256: string): Promise<number> {
    this.#check()
    return this.#objects.size(sha256)
  }

  async put(
    sha256: string,
    size: number,
    bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    this.#check()
    return this.#objects.put(sha256, size, bytes)
  }

  async *read(sha256: string, range?: { start: number; end: number }): AsyncIterable<Uint8Array> {
    this.#check()
    yield* this.#objects.read(sha256, range)
  }

  async list(): Promise<Array<{ sha256: string; size: number }>> {
    this.#check()
    return this.#objects.list()
  }

  async remove(sha256: string): Promise<void> {
    this.#check()
    await this.#objects.remove(sha256)
    await this.#gate.run(async () => {
      if (!this.#partials.has(sha256)) await discardPartialFiles(this.layout, sha256)
    })
  }

  async verifyObject(sha256: string): Promise<'good' | 'bad' | 'missing'> {
    this.#check()
    return this.#objects.verify(sha256)
  }

  async openPartial(spec: ChunkedObjectSpec): Promise<PartialObject> {
    this.#check()
    checkChunkSpec(spec)
    const core = await this.#gate.run(async () => {
      this.#check()
      const entry = this.#partials.get(spec.sha256)
      if (entry) {
        if (!sameSpec(entry.core.spec, spec)) throw new PartialConflictError(spec.sha256)
        entry.refs++
        return entry.core
      }
      const context: PartialContext = { layout: this.layout, ledger: this.ledger }
      const opened = await PartialCore.open(context, spec)
      this.#partials.set(spec.sha256, { core: opened, refs: 1 })
      return opened
    })
    return new PartialHandle(core, () => this.#letGo(core))
  }

  #letGo(core: PartialCore): Promise<void> {
    return this.#gate.run(async () => {
      const entry = this.#partials.get(core.spec.sha256)
      if (entry?.core !== core) return
      entry.refs--
      if (entry.refs > 0) return
      this.#partials.delete(core.spec.sha256)
      await core.close()
    })
  }

  async readChunk(
    sha256: string,
    index: number,
    chunkBytes: number,
  ): Promise<Uint8Array | undefined> {
    this.#check()
    checkId(sha256)
    checkChunkBytes(chunkBytes)
    if (!Number.isSafeInteger(index) || index < 0) return undefined

    const complete = await this.#objects.readChunk(sha256, index, chunkBytes)
    if (complete) return complete
    const entry = this.#partials.get(sha256)
    if (entry) return entry.core.readChunkAs(index, chunkBytes)
    try {
      return await readClosedPartialChunk(this.layout, sha256, index, chunkBytes)
    } catch (err) {
      // Removed by gc or published between the look-ups: not held here any more.
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async chunkMap(sha256: string, chunkBytes: number): Promise<Uint8Array | undefined> {
    this.#check()
    checkId(sha256)
    checkChunkBytes(chunkBytes)
    try {
      const size = await this.#objects.size(sha256)
      return bitmapOf(chunkCountOf(size, chunkBytes), () => true)
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err
    }
    const entry = this.#partials.get(sha256)
    if (entry) return entry.core.chunkMap(chunkBytes)
    return closedPartialChunkMap(this.layout, sha256, chunkBytes)
  }

  async freeBytes(): Promise<number> {
    this.#check()
    return this.ledger.freeBytes()
  }

  async putRelease(id: string, bytes: Uint8Array): Promise<void> {
    this.#check()
    return this.#releases.put(id, bytes)
  }

  async getRelease(id: string): Promise<Uint8Array | undefined> {
    this.#check()
    return this.#releases.get(id)
  }

  async listReleaseIds(): Promise<string[]> {
    this.#check()
    return this.#releases.listIds()
  }

  async removeRelease(id: string): Promise<void> {
    this.#check()
    return this.#releases.remove(id)
  }

  async readDeviceState(): Promise<DeviceState> {
    this.#check()
    return this.#deviceState.read()
  }

  async updateDeviceState(
    mutate: (state: DeviceState) => void | Promise<void>,
  ): Promise<DeviceState> {
    this.#check()
    return this.#deviceState.update(mutate)
  }

  async fsck(): Promise<FsckReport> {
    this.#check()
    return fsck(this.#maintenance())
  }

  async gc(keep: ReadonlySet<string>): Promise<{ removed: string[]; freedBytes: number }> {
    this.#check()
    return gc(this.#maintenance(), keep)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#gate.run(async () => {
      const cores = [...this.#partials.values()].map(entry => entry.core)
      this.#partials.clear()
      await Promise.all(cores.map(core => core.close()))
    })
    await this.#objects.closeReadHandles()
    await this.unlock()
  }

  #maintenance(): MaintenanceContext {
    return {
      layout: this.layout,
      objects: this.#objects,
      gate: this.#gate,
      openCore: sha256 => this.#partials.get(sha256)?.core,
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError()
  }
}

function checkChunkBytes(chunkBytes: number): void {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new RangeError(`chunkBytes ${chunkBytes} is not a positive integer`)
  }
}

/** Temp files are only ever writes in flight; at open nothing is in flight. */
async function clearTmp(layout: Layout): Promise<void> {
  for (const name of await readdir(layout.tmp)) {
    await rm(join(layout.tmp, name), { recursive: true, force: true })
  }
}
