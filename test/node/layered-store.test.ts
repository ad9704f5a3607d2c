import assert from 'node:assert/strict'
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { dropStoreCopies, resolveDropStoreCopies } from '../../src/node/drop-copies.js'
import { layeredStore } from '../../src/node/layered-store.js'
import { openStore, type Store } from '../../src/store/index.js'
import { sha256Of } from '../exchange/helpers.js'
import {
  installed,
  KERNEL,
  MiB,
  pantavisorHolding,
  REV1_SENSOR_ROOT,
  REV1_SITE_CONF,
  revisions,
} from './pantavisor-objects.js'

async function emptyStore(t: TestContext): Promise<Store> {
  const dir = await mkdtemp(join(tmpdir(), 'pvswarm-layered-'))
  const store = await openStore({ dataDir: dir })
  t.after(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })
  return store
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

/** How many times the object list was asked for. */
function listings(requests: Array<{ method: string; path: string }>): number {
  return requests.filter(r => r.method === 'GET' && r.path === '/objects').length
}

function bit(map: Uint8Array, index: number): boolean {
  return ((map[index >> 3]! >> (index & 7)) & 1) === 1
}

describe('layeredStore', () => {
  it('says an installed object only Pantavisor holds is held, and not one of no installed release', async t => {
    const { rev1, rev2 } = await revisions()
    const { chunks } = await pantavisorHolding(t, rev1.objects)
    const store = await emptyStore(t)
    const layered = layeredStore(store, chunks, installed(rev1.content))

    assert.equal(await layered.has(KERNEL), true)
    assert.equal(await layered.servedFromPantavisor(KERNEL), true)
    // rev2's own sensor-app root: Pantavisor does not hold it
    const rev2Only = [...rev2.objects.keys()].find(sha => !rev1.objects.has(sha))!
    assert.equal(await layered.has(rev2Only), false)

    const notInstalled = layeredStore(store, chunks, installed())
    assert.equal(await notInstalled.has(KERNEL), false)
    assert.equal(await notInstalled.chunkMap(KERNEL, MiB), undefined)
    assert.equal(await notInstalled.readChunk(KERNEL, 0, MiB), undefined)
  })

  it('does not serve an object Pantavisor lists at another size than the release', async t => {
    const { rev1 } = await revisions()
    const { chunks } = await pantavisorHolding(t, rev1.objects)
    const store = await emptyStore(t)
    const lying = {
      ...rev1.content,
      objects: rev1.content.objects.map(o =>
        o.sha256 === KERNEL ? { ...o, size: o.size + 1 } : o,
      ),
    }
    const layered = layeredStore(store, chunks, installed(lying))
    assert.equal(await layered.has(KERNEL), false)
    assert.equal(await layered.readChunk(KERNEL, 0, MiB), undefined)
  })

  it('maps every chunk of a Pantavisor object, at the installed release chunk size only', async t => {
    const { rev1 } = await revisions()
    const { chunks } = await pantavisorHolding(t, rev1.objects)
    const layered = layeredStore(await emptyStore(t), chunks, installed(rev1.content))

    const map = await layered.chunkMap(KERNEL, MiB)
    assert.ok(map !== undefined)
    assert.equal(map.byteLength, 2)
    for (let i = 0; i < 12; i++) assert.equal(bit(map, i), true, `chunk ${i}`)
    for (let i = 12; i < 16; i++) assert.equal(bit(map, i), false, `no chunk ${i}`)
    // chunk hashes exist only at the release's chunk size: nothing can be verified at another
    assert.equal(await layered.chunkMap(KERNEL, 64 * 1024), undefined)
    assert.equal(await layered.readChunk(KERNEL, 0, 64 * 1024), undefined)
  })

  it('reads the store first and Pantavisor only for what the store lacks', async t => {
    const { rev1 } = await revisions()
    const { chunks, requests } = await pantavisorHolding(t, rev1.objects)
    const store = await emptyStore(t)
    const kernel = rev1.objects.get(KERNEL)!
    await store.put(KERNEL, kernel.byteLength, [kernel])
    const layered = layeredStore(store, chunks, installed(rev1.content))

    const fromStore = await layered.readChunk(KERNEL, 3, MiB)
    assert.ok(Buffer.from(fromStore!).equals(kernel.subarray(3 * MiB, 4 * MiB)))
    assert.equal(await layered.has(KERNEL), true)
    assert.equal(await layered.servedFromPantavisor(KERNEL), false)
    assert.equal(chunks.stats().streamsOpened, 0)
    assert.equal(listings(requests), 0)

    const web = rev1.content.objects.find(o => o.size === 7_778_304)!
    const bytes = rev1.objects.get(web.sha256)!
    const chunk = await layered.readChunk(web.sha256, 5, MiB)
    assert.ok(Buffer.from(chunk!).equals(bytes.subarray(5 * MiB, 6 * MiB)))
    assert.equal(sha256Of(chunk!), web.chunks[5])
    assert.equal(chunks.stats().streamsOpened, 1)
  })

  it('sends openPartial to the store, even for an object Pantavisor holds', async t => {
    const { rev1 } = await revisions()
    const { chunks } = await pantavisorHolding(t, rev1.objects)
    const store = await emptyStore(t)
    const layered = layeredStore(store, chunks, installed(rev1.content))
    const entry = rev1.content.objects.find(o => o.sha256 === KERNEL)!

    const partial = await layered.openPartial({
      sha256: KERNEL,
      size: entry.size,
      chunkBytes: MiB,
      chunkSha256: entry.chunks,
    })
    t.after(() => partial.close())
    assert.equal(partial.isComplete(), false)
    assert.deepEqual(partial.missing().length, 12)
    await partial.writeChunk(0, rev1.objects.get(KERNEL)!.subarray(0, MiB))
    assert.deepEqual(await store.chunkMap(KERNEL, MiB), new Uint8Array([1, 0]))
    // the store holds one chunk, Pantavisor the rest: every chunk can be served
    assert.deepEqual(await layered.chunkMap(KERNEL, MiB), new Uint8Array([0xff, 0x0f]))
  })

  it('serves nothing of an object whose Pantavisor copy is corrupt, and says so from then on', async t => {
    const { rev1 } = await revisions()
    const { chunks, emulator } = await pantavisorHolding(t, rev1.objects)
    const layered = layeredStore(await emptyStore(t), chunks, installed(rev1.content))
    const fd = openSync(emulator.objectPath(KERNEL), 'r+')
    writeSync(fd, Buffer.from('bitrot'), 0, 6, 2 * MiB + 100)
    closeSync(fd)

    assert.equal(await layered.readChunk(KERNEL, 2, MiB), undefined)
    assert.equal(await layered.readChunk(KERNEL, 0, MiB), undefined)
    assert.equal(await layered.has(KERNEL), false)
    assert.equal(await layered.chunkMap(KERNEL, MiB), undefined)
    assert.equal(chunks.corruption(KERNEL)?.chunkIndex, 2)
  })

  it('notices an object Pantavisor no longer holds and asks for the list again', async t => {
    const { rev1 } = await revisions()
    const { chunks, emulator, requests } = await pantavisorHolding(t, rev1.objects)
    let nowMs = 0
    const layered = layeredStore(await emptyStore(t), chunks, installed(rev1.content), {
      nowMs: () => nowMs,
    })
    assert.equal(await layered.has(KERNEL), true)
    rmSync(emulator.objectPath(KERNEL)) // Pantavisor's GC took it

    assert.equal(await layered.readChunk(KERNEL, 0, MiB), undefined)
    assert.equal(await layered.has(KERNEL), false)
    assert.equal(listings(requests), 2)
  })

  it('trusts the object list for listingTtlMs and refreshes a miss at most every missRefreshMs', async t => {
    const { rev1 } = await revisions()
    const { chunks, requests, client } = await pantavisorHolding(t, new Map())
    let nowMs = 0
    const layered = layeredStore(await emptyStore(t), chunks, installed(rev1.content), {
      nowMs: () => nowMs,
      listingTtlMs: 10_000,
      missRefreshMs: 1_000,
    })
    assert.equal(await layered.has(KERNEL), false)
    assert.equal(await layered.has(KERNEL), false)
    assert.equal(listings(requests), 1)

    const kernel = rev1.objects.get(KERNEL)!
    await client.putObject(KERNEL, kernel.byteLength, once(kernel))
    nowMs = 999
    assert.equal(await layered.has(KERNEL), false)
    nowMs = 1_000
    assert.equal(await layered.has(KERNEL), true)
    assert.equal(listings(requests), 2)
    nowMs = 5_000
    assert.equal(await layered.has(KERNEL), true)
    assert.equal(listings(requests), 2)
    nowMs = 11_000
    assert.equal(await layered.has(KERNEL), true)
    assert.equal(listings(requests), 3)
  })

  it('serves from the store alone while pv-ctrl is away', async t => {
    const { rev1 } = await revisions()
    const { chunks, emulator } = await pantavisorHolding(t, rev1.objects)
    await emulator.close()
    const layered = layeredStore(await emptyStore(t), chunks, installed(rev1.content))
    assert.equal(await layered.has(KERNEL), false)
    assert.equal(await layered.readChunk(KERNEL, 0, MiB), undefined)
  })
})

describe('dropStoreCopies', () => {
  it('is on by default exactly when a pv-ctrl socket is in use', () => {
    assert.equal(resolveDropStoreCopies(undefined, '/pantavisor/pv-ctrl'), true)
    assert.equal(resolveDropStoreCopies(undefined, undefined), false)
    assert.equal(resolveDropStoreCopies(false, '/pantavisor/pv-ctrl'), false)
  })

  it('drops exactly the installed objects no other kept release needs; they are still served', async t => {
    const { rev1, rev2 } = await revisions()
    const { chunks, client } = await pantavisorHolding(t, rev1.objects)
    const store = await emptyStore(t)
    for (const [sha256, bytes] of [...rev1.objects, ...rev2.objects]) {
      await store.put(sha256, bytes.byteLength, [bytes])
    }

    const result = await dropStoreCopies({
      store,
      listPantavisorObjects: () => client.listObjects(),
      installed: { id: 'rev1-release', objects: rev1.content.objects },
      stillNeeded: [{ id: 'rev2-release', objects: rev2.content.objects }],
    })

    assert.equal(result.verdict, 'drop')
    assert.deepEqual(result.removed, [REV1_SITE_CONF, REV1_SENSOR_ROOT].sort())
    assert.equal(result.bytes, 410 + 843_776)
    const left = new Set((await store.list()).map(o => o.sha256))
    assert.deepEqual(left, new Set(rev2.objects.keys()))

    const layered = layeredStore(store, chunks, installed(rev1.content))
    const root = rev1.objects.get(REV1_SENSOR_ROOT)!
    assert.equal(await layered.has(REV1_SENSOR_ROOT), true)
    assert.ok(Buffer.from((await layered.readChunk(REV1_SENSOR_ROOT, 0, MiB))!).equals(root))
    const conf = await layered.readChunk(REV1_SITE_CONF, 0, MiB)
    assert.ok(Buffer.from(conf!).equals(rev1.objects.get(REV1_SITE_CONF)!))
  })

  it('drops nothing when Pantavisor lacks an object of the release', async t => {
    const { rev1 } = await revisions()
    const partial = new Map([...rev1.objects].filter(([sha]) => sha !== REV1_SITE_CONF))
    const { client } = await pantavisorHolding(t, partial)
    const store = await emptyStore(t)
    for (const [sha256, bytes] of rev1.objects) await store.put(sha256, bytes.byteLength, [bytes])

    const result = await dropStoreCopies({
      store,
      listPantavisorObjects: () => client.listObjects(),
      installed: { id: 'rev1-release', objects: rev1.content.objects },
      stillNeeded: [],
    })
    assert.equal(result.verdict, 'keep-all')
    assert.deepEqual(result.removed, [])
    assert.equal((await store.list()).length, 9)
  })
})
