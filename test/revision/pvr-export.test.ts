import assert from 'node:assert/strict'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { extract as tarExtract, type Header } from 'tar-stream'
import {
  ExportSourceError,
  exportPvr,
  importPvrExportFile,
  parseRevision,
  type ObjectSource,
} from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'
import { DirectoryStore, chunksOf, removeDir, smallRevision, tempDir } from './helpers.js'

async function collect(run: (out: NodeJS.WritableStream) => Promise<void>): Promise<Buffer> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (chunk: Buffer) => chunks.push(chunk))
  await run(out)
  return Buffer.concat(chunks)
}

function memorySource(objects: ReadonlyMap<string, string>): ObjectSource {
  return {
    size: async sha => Buffer.byteLength(objects.get(sha) ?? ''),
    read: sha => chunksOf(Buffer.from(objects.get(sha) ?? '')),
  }
}

async function membersOf(tar: Buffer): Promise<Array<{ header: Header; body: Buffer }>> {
  const extract = tarExtract()
  const members: Array<{ header: Header; body: Buffer }> = []
  const reading = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = []
      for await (const chunk of entry as AsyncIterable<Buffer>) parts.push(chunk)
      members.push({ header: entry.header, body: Buffer.concat(parts) })
    }
  })()
  extract.end(tar)
  await reading
  return members
}

describe('exportPvr then import of the fixture revisions', () => {
  let dir: string
  before(async () => {
    dir = await tempDir()
  })
  after(() => removeDir(dir))

  const cases: Array<['rev1' | 'rev2' | 'rev3', boolean]> = [
    ['rev1', true],
    ['rev2', false],
    ['rev3', true],
  ]
  for (const [name, gzip] of cases) {
    it(`gives back ${name}'s json and objects byte for byte (${gzip ? 'tgz' : 'tar'})`, async () => {
      const original = new DirectoryStore(join(dir, `${name}-a`))
      const first = await importPvrExportFile(revisionFixture(name), original)

      const path = join(dir, `${name}.${gzip ? 'tgz' : 'tar'}`)
      await exportPvr(first.revision, original, createWriteStream(path), { gzip })

      const copy = new DirectoryStore(join(dir, `${name}-b`))
      const second = await importPvrExportFile(path, copy)
      assert.deepEqual(Buffer.from(second.revision.bytes), Buffer.from(first.revision.bytes))
      assert.equal(second.revision.sha256, first.revision.sha256)
      assert.deepEqual(
        second.objects.map(o => [o.sha256, o.size]),
        first.objects.map(o => [o.sha256, o.size]),
      )
      for (const sha of first.revision.objectIds) {
        assert.ok(
          (await readFile(join(copy.dir, sha))).equals(await readFile(join(original.dir, sha))),
          sha,
        )
      }
    })
  }
})

describe('exportPvr layout', () => {
  const { json, objects } = smallRevision()
  const revision = parseRevision(json)

  it('writes json first, then objects sorted by sha, as 0644 root-owned files with a fixed mtime', async () => {
    const members = await membersOf(
      await collect(out => exportPvr(revision, memorySource(objects), out)),
    )
    assert.deepEqual(
      members.map(m => m.header.name),
      ['json', ...[...objects.keys()].sort().map(sha => `objects/${sha}`)],
    )
    for (const { header } of members) {
      assert.equal(header.type, 'file')
      assert.equal(header.mode, 0o644)
      assert.equal(header.uid, 0)
      assert.equal(header.gid, 0)
      assert.equal(header.mtime.toISOString(), '2025-01-01T00:00:00.000Z')
    }
    assert.equal(members[0]?.body.toString(), json)
  })

  it('writes a plain tar without gzip and a gzip stream with it', async () => {
    const tar = await collect(out => exportPvr(revision, memorySource(objects), out))
    const tgz = await collect(out =>
      exportPvr(revision, memorySource(objects), out, { gzip: true }),
    )
    assert.equal(tar.subarray(257, 262).toString(), 'ustar')
    assert.deepEqual([...tgz.subarray(0, 2)], [0x1f, 0x8b])
  })

  it('gives the same bytes every time', async () => {
    const once = await collect(out =>
      exportPvr(revision, memorySource(objects), out, { gzip: true }),
    )
    const twice = await collect(out =>
      exportPvr(revision, memorySource(objects), out, { gzip: true }),
    )
    assert.ok(once.equals(twice))
  })

  it('refuses a source that yields fewer bytes than it announced', async () => {
    const lying: ObjectSource = {
      size: async sha => Buffer.byteLength(objects.get(sha) ?? '') + 10,
      read: sha => chunksOf(Buffer.from(objects.get(sha) ?? '')),
    }
    await assert.rejects(
      collect(out => exportPvr(revision, lying, out)),
      (err: Error) => {
        assert.ok(err instanceof ExportSourceError, err.message)
        assert.equal(err.foundBytes + 10, err.expectedBytes)
        return true
      },
    )
  })

  it('fails with the error of the output, not a hang, when the output fails mid-object', async () => {
    const objectBytes = 4 * 1024 * 1024
    const big: ObjectSource = {
      size: async () => objectBytes,
      read: () => chunksOf(new Uint8Array(objectBytes), 65536),
    }
    let writtenBytes = 0
    const full = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writtenBytes += chunk.byteLength
        const error = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
        callback(writtenBytes > 256 * 1024 ? error : null)
      },
    })
    await assert.rejects(exportPvr(revision, big, full), { code: 'ENOSPC' })
  })

  it('refuses a source that yields more bytes than it announced', async () => {
    const lying: ObjectSource = {
      size: async () => 3,
      read: sha => chunksOf(Buffer.from(objects.get(sha) ?? '')),
    }
    await assert.rejects(
      collect(out => exportPvr(revision, lying, out)),
      ExportSourceError,
    )
  })
})
