import assert from 'node:assert/strict'
import { open, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { InOrderObjectHash } from '../../src/store/object-hash.js'
import { chunkOf, makeTempDir, patternBytes, sha256Of, specOf } from './helpers.js'

const CHUNK_BYTES = 1000

/** chunk `index` of `bytes` cut in three pieces, as a transport might deliver it */
function piecesOf(bytes: Uint8Array, index: number): Uint8Array[] {
  const chunk = chunkOf(bytes, CHUNK_BYTES, index)
  const third = Math.floor(chunk.byteLength / 3)
  return [chunk.subarray(0, third), chunk.subarray(third, 2 * third), chunk.subarray(2 * third)]
}

describe('store in-order object hash', () => {
  const object = patternBytes(4 * CHUNK_BYTES + 321, 3)
  const spec = specOf(object, CHUNK_BYTES)
  let dir: string
  let cleanup: () => Promise<void>
  let file: FileHandle

  beforeEach(async () => {
    ;({ dir, cleanup } = await makeTempDir())
  })

  afterEach(async () => {
    await file.close()
    await cleanup()
  })

  it('hashes chunks offered in order from memory, without reading the file', async () => {
    // an empty file: a read-back would come up short and fail
    await writeFile(join(dir, 'data'), new Uint8Array(0))
    file = await open(join(dir, 'data'), 'r')
    const hash = new InOrderObjectHash(spec, file, () => true)
    for (let index = 0; index < spec.chunkSha256.length; index++) {
      assert.equal(hash.offer(index, piecesOf(object, index)), true)
    }
    assert.equal(await hash.digest(), sha256Of(object))
  })

  it('reads back chunks that came early once the ones before them are on disk', async () => {
    await writeFile(join(dir, 'data'), object)
    file = await open(join(dir, 'data'), 'r')
    const onDisk = new Set<number>()
    const hash = new InOrderObjectHash(spec, file, index => onDisk.has(index))

    assert.equal(hash.offer(2, piecesOf(object, 2)), false, 'chunk 2 is not next')
    onDisk.add(2)
    onDisk.add(1)
    assert.equal(hash.offer(0, piecesOf(object, 0)), true)
    onDisk.add(0)
    await hash.catchUp()
    assert.equal(hash.hashedChunks, 3, 'chunks 1 and 2 read back')

    assert.equal(hash.offer(3, piecesOf(object, 3)), true)
    onDisk.add(3)
    onDisk.add(4)
    assert.equal(await hash.digest(), sha256Of(object))
  })

  it('refuses to give a digest while a chunk is missing', async () => {
    await writeFile(join(dir, 'data'), object)
    file = await open(join(dir, 'data'), 'r')
    const hash = new InOrderObjectHash(spec, file, index => index !== 3)
    await assert.rejects(hash.digest(), /chunk 3 missing/)
  })

  it('hashes what the disk holds for chunks read back, so a changed file shows', async () => {
    const changed = Buffer.from(object)
    changed[2 * CHUNK_BYTES + 5]! ^= 0xff
    await writeFile(join(dir, 'data'), changed)
    file = await open(join(dir, 'data'), 'r')
    const hash = new InOrderObjectHash(spec, file, () => true)
    assert.equal(await hash.digest(), sha256Of(changed))
  })
})
