import assert from 'node:assert/strict'
import { open, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { ReadHandles } from '../../src/store/read-handles.js'
import { makeTempDir } from './helpers.js'

describe('store read handles', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let opened: string[]
  let closed: string[]

  /** opens files in `dir`, recording every open and close */
  const opener = async (name: string): Promise<FileHandle> => {
    const handle = await open(join(dir, name), 'r')
    opened.push(name)
    const close = handle.close.bind(handle)
    handle.close = async () => {
      closed.push(name)
      await close()
    }
    return handle
  }

  beforeEach(async () => {
    ;({ dir, cleanup } = await makeTempDir())
    opened = []
    closed = []
    for (const name of ['a', 'b', 'c']) await writeFile(join(dir, name), `bytes of ${name}`)
  })

  afterEach(() => cleanup())

  it('opens an object once for many reads and closes it at closeAll', async () => {
    const handles = new ReadHandles(opener, 4)
    for (let read = 0; read < 3; read++) {
      const size = await handles.use('a', async (_handle, size) => size)
      assert.equal(size, 'bytes of a'.length)
    }
    assert.deepEqual(opened, ['a'])
    await handles.closeAll()
    assert.deepEqual(closed, ['a'])
    assert.equal(handles.size, 0)
  })

  it('keeps at most maxOpen handles, closing the least recently used', async () => {
    const handles = new ReadHandles(opener, 2)
    await handles.use('a', async () => undefined)
    await handles.use('b', async () => undefined)
    await handles.use('a', async () => undefined)
    await handles.use('c', async () => undefined)
    assert.deepEqual(closed, ['b'])
    assert.equal(handles.size, 2)
    await handles.closeAll()
  })

  it('closes a forgotten handle only after the read using it is done', async () => {
    const handles = new ReadHandles(opener, 4)
    const { promise: hold, resolve: release } = Promise.withResolvers<void>()
    const reading = handles.use('a', async handle => {
      await hold
      const { bytesRead } = await handle.read(Buffer.alloc(5), 0, 5, 0)
      return bytesRead
    })
    await new Promise(resolve => setImmediate(resolve))
    await handles.forget('a')
    assert.deepEqual(closed, [], 'still in use')
    release()
    assert.equal(await reading, 5)
    assert.deepEqual(closed, ['a'])
    await handles.use('a', async () => undefined)
    assert.deepEqual(opened, ['a', 'a'], 'opened afresh after forget')
    await handles.closeAll()
  })

  it('does not keep a failed open', async () => {
    const handles = new ReadHandles(opener, 4)
    await assert.rejects(
      handles.use('missing', async () => undefined),
      { code: 'ENOENT' },
    )
    assert.equal(handles.size, 0)
  })
})
