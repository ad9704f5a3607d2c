import { readdir, readFile } from 'node:fs/promises'
import { isSha256Hex } from '../util/hex.js'
import { fsyncDir, isNotFound, removeFile, writeFileAtomic } from './fs-util.js'
import { checkId, type Layout } from './layout.js'

const SUFFIX = '.json'

/**
 * Release documents kept as the exact bytes they arrived as (signatures cover bytes, so the store
 * never re-serialises them). The store does not parse them: release/ owns the format.
 */
export class ReleaseFiles {
  constructor(private readonly layout: Layout) {}

  async put(id: string, bytes: Uint8Array): Promise<void> {
    const path = this.layout.release(id)
    await writeFileAtomic(this.layout.tempFile('release'), path, bytes)
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.layout.release(id)))
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async listIds(): Promise<string[]> {
    return (await readdir(this.layout.releases))
      .filter(name => name.endsWith(SUFFIX))
      .map(name => name.slice(0, -SUFFIX.length))
      .filter(isSha256Hex)
      .sort()
  }

  async remove(id: string): Promise<void> {
    checkId(id, 'release')
    await removeFile(this.layout.release(id))
    await fsyncDir(this.layout.releases)
  }
}
