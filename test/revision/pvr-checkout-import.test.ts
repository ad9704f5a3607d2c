import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  PvrCheckoutError,
  PvrMissingObjectsError,
  PvrObjectHashMismatchError,
  discardingSink,
  importPvrCheckout,
  importRevision,
} from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'
import { MemorySink, readManifest, removeDir, sha256, smallRevision, tempDir } from './helpers.js'

/** A pvr checkout made the way MANIFEST.md's "Making a pvr checkout" says. */
async function checkoutOf(tgz: string, dir: string): Promise<void> {
  await mkdir(join(dir, '.pvr'), { recursive: true })
  execFileSync('tar', ['-xzf', tgz, '-C', join(dir, '.pvr')])
  await writeFile(join(dir, '.pvr', 'config'), '{}\n')
}

/** A small checkout written file by file. */
async function smallCheckout(
  dir: string,
  config?: unknown,
  objectsDir = join('.pvr', 'objects'),
): Promise<void> {
  const { json, objects } = smallRevision()
  await mkdir(join(dir, '.pvr'), { recursive: true })
  await mkdir(join(dir, objectsDir), { recursive: true })
  await writeFile(join(dir, '.pvr', 'json'), json)
  if (config !== undefined) await writeFile(join(dir, '.pvr', 'config'), JSON.stringify(config))
  for (const [sha, body] of objects) await writeFile(join(dir, objectsDir, sha), body)
}

describe('importPvrCheckout on a checkout of rev1', () => {
  let dir: string
  before(async () => {
    dir = await tempDir()
    await checkoutOf(revisionFixture('rev1'), dir)
  })
  after(() => removeDir(dir))

  it('imports the committed state and every object, as MANIFEST.md lists them', async () => {
    const expected = (await readManifest()).get('rev1')
    const result = await importPvrCheckout(dir, discardingSink())
    assert.equal(result.revision.sha256, expected?.stateSha256)
    assert.equal(result.objects.length, expected?.objectCount)
    assert.equal(
      result.objects.reduce((sum, object) => sum + object.size, 0),
      expected?.objectBytes,
    )
  })

  it('is chosen by importRevision for a directory', async () => {
    const result = await importRevision(dir, discardingSink())
    assert.equal(result.revision.sha256, (await readManifest()).get('rev1')?.stateSha256)
  })
})

describe('importPvrCheckout on small checkouts', () => {
  let dir: string
  before(async () => {
    dir = await tempDir()
  })
  after(() => removeDir(dir))

  async function fresh(name: string): Promise<string> {
    const path = join(dir, name)
    await rm(path, { recursive: true, force: true })
    return path
  }

  it('works without a .pvr/config', async () => {
    const path = await fresh('no-config')
    await smallCheckout(path)
    const sink = new MemorySink()
    await importPvrCheckout(path, sink)
    assert.equal(sink.objects.size, 2)
  })

  it('reads objects from ObjectsDir, relative to the checkout', async () => {
    const path = await fresh('objects-dir')
    await smallCheckout(path, { ObjectsDir: 'cache/objs' }, join('cache', 'objs'))
    const sink = new MemorySink()
    const result = await importPvrCheckout(path, sink)
    assert.equal(result.objects.length, 2)
    assert.equal(
      sink.objects.get(smallRevision().shaA)?.toString(),
      smallRevision().objects.get(smallRevision().shaA),
    )
  })

  it('refuses a checkout missing an object, listing it, before importing any', async () => {
    const path = await fresh('missing')
    await smallCheckout(path, {})
    const { shaB } = smallRevision()
    await rm(join(path, '.pvr', 'objects', shaB))
    const sink = new MemorySink()
    await assert.rejects(importPvrCheckout(path, sink), (err: Error) => {
      assert.ok(err instanceof PvrMissingObjectsError, err.message)
      assert.deepEqual(err.missing, [shaB])
      return true
    })
    assert.deepEqual(sink.puts, [])
  })

  it('refuses an object file whose bytes do not match its name', async () => {
    const path = await fresh('corrupt')
    await smallCheckout(path, {})
    const { shaA } = smallRevision()
    await writeFile(join(path, '.pvr', 'objects', shaA), 'tampered bytes')
    const sink = new MemorySink()
    await assert.rejects(importPvrCheckout(path, sink), (err: Error) => {
      assert.ok(err instanceof PvrObjectHashMismatchError, err.message)
      assert.equal(err.actualSha256, sha256('tampered bytes'))
      return true
    })
    assert.equal(sink.objects.has(shaA), false)
  })

  it('refuses a directory without .pvr/json', async () => {
    const path = await fresh('empty')
    await mkdir(path)
    await assert.rejects(importPvrCheckout(path, new MemorySink()), (err: Error) => {
      assert.ok(err instanceof PvrCheckoutError, err.message)
      assert.match(err.message, /\.pvr\/json/)
      return true
    })
  })

  it('refuses a .pvr/config that is not JSON', async () => {
    const path = await fresh('bad-config')
    await smallCheckout(path)
    await writeFile(join(path, '.pvr', 'config'), 'ObjectsDir = x')
    await assert.rejects(importPvrCheckout(path, new MemorySink()), PvrCheckoutError)
  })

  it('refuses an ObjectsDir that is not a string', async () => {
    const path = await fresh('bad-objects-dir')
    await smallCheckout(path, { ObjectsDir: 7 })
    await assert.rejects(importPvrCheckout(path, new MemorySink()), PvrCheckoutError)
  })

  it('looks only at the committed state, not at working-tree files', async () => {
    const path = await fresh('working-tree')
    await smallCheckout(path)
    await mkdir(join(path, 'app'))
    await writeFile(join(path, 'app', 'root.squashfs'), 'edited in the working tree')
    const result = await importPvrCheckout(path, new MemorySink())
    assert.equal(result.revision.sha256, sha256(smallRevision().json))
    // moving .pvr/json away makes it fail even though the working tree is there
    await rename(join(path, '.pvr', 'json'), join(path, '.pvr', 'json.bak'))
    await assert.rejects(importPvrCheckout(path, new MemorySink()), PvrCheckoutError)
  })
})
