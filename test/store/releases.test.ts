import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { InvalidObjectIdError, openStore, type Store } from '../../src/store/index.js'
import { makeTempDir, namesIn, sha256Of } from './helpers.js'
import { join } from 'node:path'

describe('store releases', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let store: Store

  beforeEach(async () => {
    ;({ dir, cleanup } = await makeTempDir())
    store = await openStore({ dataDir: dir })
  })

  afterEach(async () => {
    await store.close()
    await cleanup()
  })

  it('keeps release documents as exact bytes by id, lists and removes them', async () => {
    const a = new TextEncoder().encode('{"b":1, "a":2}\n')
    const b = Uint8Array.of(0, 1, 2, 255)
    const idA = sha256Of(a)
    const idB = sha256Of(b)
    await store.putRelease(idA, a)
    await store.putRelease(idB, b)

    assert.deepEqual(await store.getRelease(idA), a)
    assert.deepEqual(await store.getRelease(idB), b)
    assert.deepEqual(await store.listReleaseIds(), [idA, idB].sort())

    await store.removeRelease(idA)
    await store.removeRelease(idA)
    assert.equal(await store.getRelease(idA), undefined)
    assert.deepEqual(await store.listReleaseIds(), [idB])
    assert.deepEqual(await namesIn(join(dir, 'tmp')), [])
  })

  it('replaces a release document whole', async () => {
    const id = sha256Of(Buffer.from('x'))
    await store.putRelease(id, new TextEncoder().encode('first, longer version'))
    await store.putRelease(id, new TextEncoder().encode('second'))
    assert.equal(new TextDecoder().decode(await store.getRelease(id)), 'second')
  })

  it('refuses release ids that are not 64 lowercase hex', async () => {
    await assert.rejects(
      store.putRelease('../device-state', Uint8Array.of(1)),
      InvalidObjectIdError,
    )
    await assert.rejects(store.getRelease('x'), InvalidObjectIdError)
    await assert.rejects(store.removeRelease('F'.repeat(64)), InvalidObjectIdError)
  })
})
