import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import * as tar from 'tar-stream'
import type { ChunkedObjectSpec } from '../../src/store/index.js'
import { revisionFixture } from '../fixtures.js'

/** bsp/pantavisor of rev1 (MANIFEST.md): the first object in the export, 878,072 bytes. */
export const FIXTURE_OBJECT = {
  sha256: '1ee5e9b4d80d2caf14e54d73c8f18b99beea4069626497456fe27056dd9b9835',
  size: 878_072,
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A fresh directory under the OS temp dir, and a function that removes it. */
export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pvswarm-store-'))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** Names in a directory, sorted; [] if it does not exist. */
export async function namesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

/** Hand the stream of one object of rev1.tgz to `use`, straight out of the gzip'd tar. */
export async function withFixtureObject<T>(
  sha256: string,
  use: (bytes: AsyncIterable<Uint8Array>, size: number) => Promise<T>,
): Promise<T> {
  const extract = tar.extract()
  const piping = pipeline(createReadStream(revisionFixture('rev1')), createGunzip(), extract)
  // Leaving the loop early destroys the extractor, which ends the pipeline with an error.
  piping.catch(() => undefined)
  for await (const entry of extract) {
    if (entry.header.name === `objects/${sha256}`) {
      // Awaited inside the loop: returning first would tear the entry down under `use`.
      return await use(entry as AsyncIterable<Uint8Array>, entry.header.size ?? 0)
    }
    entry.resume()
  }
  throw new Error(`objects/${sha256} is not in rev1.tgz`)
}

/** The bytes of one object of rev1.tgz. */
export async function fixtureObjectBytes(sha256: string): Promise<Buffer> {
  return withFixtureObject(sha256, async bytes => {
    const pieces: Buffer[] = []
    for await (const piece of bytes) pieces.push(Buffer.from(piece))
    return Buffer.concat(pieces)
  })
}

/** Deterministic pseudo-random bytes (xorshift32), the same in every process for a seed. */
export function patternBytes(length: number, seed = 1): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4))
  let x = seed >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    words[i] = x
  }
  return Buffer.from(words.buffer, 0, length)
}

/** The chunk spec of some bytes, as a release would give it. */
export function specOf(bytes: Uint8Array, chunkBytes: number): ChunkedObjectSpec {
  const chunkSha256: string[] = []
  for (let start = 0; start < bytes.length || chunkSha256.length === 0; start += chunkBytes) {
    chunkSha256.push(sha256Of(bytes.subarray(start, start + chunkBytes)))
  }
  return { sha256: sha256Of(bytes), size: bytes.length, chunkBytes, chunkSha256 }
}

/** Chunk `index` of some bytes. */
export function chunkOf(bytes: Uint8Array, chunkBytes: number, index: number): Uint8Array {
  return bytes.subarray(index * chunkBytes, (index + 1) * chunkBytes)
}

/** Collect an async stream of bytes. */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of stream) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces)
}

/** A stream that yields `bytes` in pieces of `pieceBytes`. */
export async function* streamOf(bytes: Uint8Array, pieceBytes = 65536): AsyncIterable<Uint8Array> {
  for (let start = 0; start < bytes.length; start += pieceBytes) {
    yield bytes.subarray(start, start + pieceBytes)
  }
}

/** A fake free-space function that always reports `bytes`. */
export function fixedFree(bytes: number): (dir: string) => Promise<number> {
  return async () => bytes
}

/** The object crash-writer.ts fills: a short last chunk, so the tail is exercised too. */
export function crashObject(chunkBytes: number, chunkCount: number, seed: number): Buffer {
  return patternBytes(chunkBytes * chunkCount - 123, seed)
}
