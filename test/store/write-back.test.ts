import assert from 'node:assert/strict'
import type { FileHandle } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { WriteBack } from '../../src/store/write-back.js'

/** A file whose fdatasyncs the test ends by hand. */
function fakeFile() {
  const syncs: Array<PromiseWithResolvers<void>> = []
  const file = {
    datasync: () => {
      const sync = Promise.withResolvers<void>()
      syncs.push(sync)
      return sync.promise
    },
  } as unknown as FileHandle
  return { file, syncs }
}

describe('store write-back', () => {
  it('starts a flush once the threshold is written, and one at a time', async () => {
    const { file, syncs } = fakeFile()
    const writeBack = new WriteBack(file, 100)
    writeBack.wrote(60)
    assert.equal(syncs.length, 0)
    writeBack.wrote(60)
    assert.equal(syncs.length, 1)
    writeBack.wrote(200)
    assert.equal(syncs.length, 1, 'no second flush while the first runs')

    syncs[0]!.resolve()
    await writeBack.settle()
    writeBack.wrote(100)
    assert.equal(syncs.length, 2)
    syncs[1]!.resolve()
    await writeBack.settle()
  })

  it('keeps a failed flush and throws it at settle, even after later flushes succeed', async () => {
    const { file, syncs } = fakeFile()
    const writeBack = new WriteBack(file, 10)
    writeBack.wrote(10)
    syncs[0]!.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    await assert.rejects(writeBack.settle(), /EIO/)
    writeBack.wrote(10)
    syncs[1]!.resolve()
    await assert.rejects(writeBack.settle(), /EIO/)
  })
})
