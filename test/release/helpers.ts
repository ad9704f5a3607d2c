import { readFile } from 'node:fs/promises'
import {
  createRelease,
  describingSink,
  generateReleaseKey,
  signRelease,
  type Release,
  type ReleaseKeyPair,
} from '../../src/release/index.js'
import { importRevision, type Revision } from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'

export interface SignedFixture {
  release: Release
  revision: Revision
  key: ReleaseKeyPair
}

const described = new Map<string, Awaited<ReturnType<typeof describeFixture>>>()

async function describeFixture(name: 'rev1' | 'rev2' | 'rev3', chunkBytes: number) {
  const sink = describingSink(chunkBytes)
  const imported = await importRevision(revisionFixture(name), sink)
  return { revision: imported.revision, objects: [...sink.described.values()] }
}

/** A release of a real fixture revision, signed by a fresh key (descriptions cached per run). */
export async function signedFixtureRelease(
  options: {
    name?: 'rev1' | 'rev2' | 'rev3'
    fleet?: string
    sequence?: number
    issuedAt?: Date
    expiresAt?: Date
    key?: ReleaseKeyPair
    chunkBytes?: number
  } = {},
): Promise<SignedFixture> {
  const name = options.name ?? 'rev1'
  const chunkBytes = options.chunkBytes ?? 1024 * 1024
  const cacheKey = `${name}/${chunkBytes}`
  let fixture = described.get(cacheKey)
  if (fixture === undefined) {
    fixture = await describeFixture(name, chunkBytes)
    described.set(cacheKey, fixture)
  }
  const key = options.key ?? generateReleaseKey()
  const body = createRelease({
    revision: fixture.revision,
    objects: fixture.objects,
    fleet: options.fleet ?? 'line-1',
    sequence: options.sequence ?? 1,
    issuedAt: options.issuedAt,
    expiresAt: options.expiresAt,
    chunkBytes,
  })
  return { release: signRelease(body, key), revision: fixture.revision, key }
}

export async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'))
}
