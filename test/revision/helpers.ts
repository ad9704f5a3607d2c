import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { gzipSync } from 'node:zlib'
import canonicalize from 'canonicalize'
import { pack as tarPack, type Header } from 'tar-stream'
import type { ObjectSink, ObjectSource } from '../../src/revision/index.js'
import { revisionsDir } from '../fixtures.js'

export function sha256(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A fresh directory under the OS temp dir; remove it with `rm(dir, { recursive: true })`. */
export function tempDir(prefix = 'pvswarm-revision-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Yields a buffer in small slices, like a network stream would. */
export async function* chunksOf(bytes: Uint8Array, chunkBytes = 7919): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += chunkBytes) {
    yield bytes.subarray(offset, offset + chunkBytes)
  }
}

/**
 * An in-memory sink that commits an object only after reading exactly `size`
 * bytes without the iterator throwing — how the store is required to behave —
 * and remembers what happened.
 */
export class MemorySink implements ObjectSink {
  readonly objects = new Map<string, Buffer>()
  readonly puts: string[] = []
  /** Bytes each put had received when it ended (committed or not). */
  readonly receivedBytes = new Map<string, number>()

  constructor(readonly present: ReadonlySet<string> = new Set()) {}

  async has(sha: string): Promise<boolean> {
    return this.present.has(sha) || this.objects.has(sha)
  }

  async put(sha: string, size: number, bytes: AsyncIterable<Uint8Array>): Promise<void> {
    this.puts.push(sha)
    const parts: Buffer[] = []
    let received = 0
    try {
      for await (const chunk of bytes) {
        parts.push(Buffer.from(chunk))
        received += chunk.byteLength
      }
    } finally {
      this.receivedBytes.set(sha, received)
    }
    if (received !== size)
      throw new Error(`memory sink: ${sha} expected ${size} bytes, got ${received}`)
    this.objects.set(sha, Buffer.concat(parts))
  }
}

/** Objects as files `<dir>/<sha>`, written through a temp name; usable as sink and source. */
export class DirectoryStore implements ObjectSink, ObjectSource {
  constructor(readonly dir: string) {}

  async has(sha: string): Promise<boolean> {
    return (await stat(join(this.dir, sha)).catch(() => undefined)) !== undefined
  }

  async put(sha: string, size: number, bytes: AsyncIterable<Uint8Array>): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const temp = join(this.dir, `.${sha}.partial`)
    const out = createWriteStream(temp)
    let received = 0
    try {
      for await (const chunk of bytes) {
        received += chunk.byteLength
        if (!out.write(chunk)) await once(out, 'drain')
      }
      out.end()
      await once(out, 'close')
      if (received !== size)
        throw new Error(`directory store: ${sha} expected ${size} bytes, got ${received}`)
      await rename(temp, join(this.dir, sha))
    } catch (err) {
      out.destroy()
      await rm(temp, { force: true })
      throw err
    }
  }

  async size(sha: string): Promise<number> {
    return (await stat(join(this.dir, sha))).size
  }

  read(sha: string): AsyncIterable<Uint8Array> {
    return createReadStream(join(this.dir, sha))
  }
}

export interface TarMember {
  header: Partial<Header> & { name: string }
  body?: string | Uint8Array
}

/** Builds a tar (gzip-compressed when asked) from members, with tar-stream. */
export async function makeTar(
  members: readonly TarMember[],
  options: { gzip?: boolean } = {},
): Promise<Buffer> {
  const pack = tarPack()
  const collected: Buffer[] = []
  const reading = (async () => {
    for await (const chunk of pack) collected.push(Buffer.from(chunk as Uint8Array))
  })()
  for (const member of members) {
    await new Promise<void>((resolve, reject) => {
      const header = { mtime: new Date(0), ...member.header }
      const done = (err?: Error | null): void => (err ? reject(err) : resolve())
      if (member.body === undefined) pack.entry(header, done).end(undefined)
      else pack.entry(header, member.body, done)
    })
  }
  pack.finalize()
  await reading
  const tar = Buffer.concat(collected)
  return options.gzip === true ? gzipSync(tar) : tar
}

/** A small valid state with two objects, and everything needed to build exports of it. */
export function smallRevision(): {
  state: Record<string, unknown>
  json: string
  objects: Map<string, string>
  shaA: string
  shaB: string
} {
  const a = 'first object\n'
  const b = 'second object\n'
  const shaA = sha256(a)
  const shaB = sha256(b)
  const state = {
    '#spec': 'pantavisor-service-system@1',
    'app/lxc.container.conf': shaA,
    'app/root.squashfs': shaB,
    'app/run.json': { config: 'lxc.container.conf', 'root-volume': 'root.squashfs', name: 'app' },
  }
  return {
    state,
    json: canonicalize(state) as string,
    objects: new Map([
      [shaA, a],
      [shaB, b],
    ]),
    shaA,
    shaB,
  }
}

/** Members of a well-formed export of `smallRevision()`. */
export function smallExportMembers(): TarMember[] {
  const { json, objects } = smallRevision()
  return [
    { header: { name: 'json' }, body: json },
    ...[...objects].sort().map(([sha, body]) => ({ header: { name: `objects/${sha}` }, body })),
  ]
}

export interface ManifestRevision {
  stateSha256: string
  stateBytes: number
  objectCount: number
  objectBytes: number
  /** sha → size, from the per-key table */
  sizes: Map<string, number>
}

/** Reads the figures of MANIFEST.md, so tests compare against the document rather than copies of it. */
export async function readManifest(): Promise<Map<string, ManifestRevision>> {
  const text = await readFile(join(revisionsDir, 'MANIFEST.md'), 'utf8')
  const result = new Map<string, ManifestRevision>()
  const number = (s: string): number => Number(s.replaceAll(',', ''))
  for (const row of text.matchAll(
    /^\| (rev\d)\.tgz \| [\d,]+ \| `[0-9a-f]{64}` \| `([0-9a-f]{64})` \| (\d+) \| (\d+) \| ([\d,]+) \|$/gm,
  )) {
    const [, name, stateSha256, stateBytes, count, bytes] = row as unknown as string[]
    const section = text.split(`\n## ${name}\n`)[1]?.split('\n## ')[0] ?? ''
    const sizes = new Map<string, number>()
    for (const line of section.matchAll(/^\| `[^`]+` \| `([0-9a-f]{64})` \| ([\d,]+) \|/gm)) {
      sizes.set(line[1] as string, number(line[2] as string))
    }
    result.set(name as string, {
      stateSha256: stateSha256 as string,
      stateBytes: number(stateBytes as string),
      objectCount: number(count as string),
      objectBytes: number(bytes as string),
      sizes,
    })
  }
  return result
}
