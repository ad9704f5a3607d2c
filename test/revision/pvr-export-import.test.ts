import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import {
  InvalidKeyError,
  PvrCorruptArchiveError,
  PvrDuplicateMemberError,
  PvrMemberNameError,
  PvrMemberTypeError,
  PvrMissingObjectsError,
  PvrObjectHashMismatchError,
  PvrStateMemberError,
  StateTooLargeError,
  addedObjects,
  discardingSink,
  importPvrExport,
  importPvrExportFile,
  type ImportResult,
} from '../../src/revision/index.js'
import { revisionFixture } from '../fixtures.js'
import {
  MemorySink,
  chunksOf,
  makeTar,
  readManifest,
  sha256,
  smallExportMembers,
  smallRevision,
  type ManifestRevision,
  type TarMember,
} from './helpers.js'

type Name = 'rev1' | 'rev2' | 'rev3'
const NAMES: readonly Name[] = ['rev1', 'rev2', 'rev3']

describe('importPvrExportFile on the fixture revisions', () => {
  const results = new Map<Name, ImportResult>()
  let manifest: Map<string, ManifestRevision>

  before(async () => {
    manifest = await readManifest()
    for (const name of NAMES)
      results.set(name, await importPvrExportFile(revisionFixture(name), discardingSink()))
  })

  for (const name of NAMES) {
    it(`imports ${name} with the state id, object count and sizes of MANIFEST.md`, () => {
      const expected = manifest.get(name)
      const result = results.get(name)
      assert.ok(expected && result)
      assert.equal(result.revision.sha256, expected.stateSha256)
      assert.equal(result.revision.bytes.byteLength, expected.stateBytes)
      assert.equal(result.revision.canonicalised, false)
      assert.equal(result.objects.length, expected.objectCount)
      assert.equal(result.revision.objectIds.length, expected.objectCount)
      assert.equal(
        result.objects.reduce((sum, object) => sum + object.size, 0),
        expected.objectBytes,
      )
      for (const object of result.objects)
        assert.equal(object.size, expected.sizes.get(object.sha256), object.sha256)
      assert.deepEqual(result.warnings, [])
    })
  }

  it('finds 844,186 bytes of new objects from rev1 to rev2', () => {
    assert.equal(deltaBytes(results.get('rev1'), results.get('rev2')), 844_186)
  })

  it('finds 12,068,800 bytes of new objects from rev2 to rev3', () => {
    assert.equal(deltaBytes(results.get('rev2'), results.get('rev3')), 12_068_800)
  })

  it('finds 12,912,986 bytes of new objects from rev1 straight to rev3', () => {
    assert.equal(deltaBytes(results.get('rev1'), results.get('rev3')), 12_912_986)
  })

  it('finds no new objects from a revision to itself', () => {
    const rev1 = results.get('rev1')
    assert.ok(rev1)
    assert.deepEqual(addedObjects(rev1.revision, rev1.revision), [])
  })
})

function deltaBytes(from: ImportResult | undefined, to: ImportResult | undefined): number {
  assert.ok(from && to)
  const sizes = new Map(to.objects.map(object => [object.sha256, object.size]))
  return addedObjects(from.revision, to.revision).reduce(
    (sum, sha) => sum + (sizes.get(sha) ?? NaN),
    0,
  )
}

async function importTar(
  members: readonly TarMember[],
  sink = new MemorySink(),
  options: { gzip?: boolean; maxStateBytes?: number } = {},
) {
  const tar = await makeTar(members, { gzip: options.gzip ?? false })
  const warnings: string[] = []
  const result = await importPvrExport(chunksOf(tar), sink, {
    onWarning: message => warnings.push(message),
    ...(options.maxStateBytes === undefined ? {} : { maxStateBytes: options.maxStateBytes }),
  })
  return { result, warnings, sink }
}

describe('importPvrExport on well-formed archives', () => {
  it('imports a plain tar and hands every object to the sink', async () => {
    const { shaA, shaB, objects } = smallRevision()
    const { result, sink } = await importTar(smallExportMembers())
    assert.equal(result.objects.length, 2)
    assert.equal(sink.objects.get(shaA)?.toString(), objects.get(shaA))
    assert.equal(sink.objects.get(shaB)?.toString(), objects.get(shaB))
  })

  it('accepts a plain array of buffers as input', async () => {
    const tar = await makeTar(smallExportMembers())
    const result = await importPvrExport(
      [tar.subarray(0, 100), tar.subarray(100)],
      new MemorySink(),
    )
    assert.equal(result.objects.length, 2)
  })

  it('detects gzip by its magic bytes', async () => {
    const { result } = await importTar(smallExportMembers(), new MemorySink(), { gzip: true })
    assert.equal(result.revision.sha256, sha256(smallRevision().json))
  })

  it('reads but does not hand over objects the sink already has', async () => {
    const { shaA } = smallRevision()
    const { result, sink } = await importTar(smallExportMembers(), new MemorySink(new Set([shaA])))
    assert.deepEqual(sink.puts, [smallRevision().shaB])
    assert.equal(result.objects.find(object => object.sha256 === shaA)?.alreadyPresent, true)
  })

  it('skips an unreferenced extra object with a warning', async () => {
    const extra = 'not in the state'
    const members = [
      ...smallExportMembers(),
      { header: { name: `objects/${sha256(extra)}` }, body: extra },
    ]
    const { result, warnings, sink } = await importTar(members)
    assert.equal(result.warnings.length, 1)
    assert.deepEqual(warnings, result.warnings)
    assert.match(
      warnings[0] ?? '',
      new RegExp(`objects/${sha256(extra)}: not referenced by the state, skipped`),
    )
    assert.equal(sink.objects.has(sha256(extra)), false)
  })
})

async function refuses(
  members: readonly TarMember[],
  check: (err: Error) => void,
  options?: { maxStateBytes?: number },
): Promise<MemorySink> {
  const sink = new MemorySink()
  await assert.rejects(importTar(members, sink, options ?? {}), (err: Error) => {
    check(err)
    return true
  })
  return sink
}

describe('importPvrExport refuses hostile members', () => {
  const [json, first] = smallExportMembers()
  const objectName = first?.header.name ?? ''
  const memberTypes: Array<[string, TarMember, RegExp]> = [
    [
      'a symlink',
      { header: { name: objectName, type: 'symlink', linkname: '/etc/shadow' } },
      /symbolic link/,
    ],
    ['a hard link', { header: { name: objectName, type: 'link', linkname: 'json' } }, /hard link/],
    [
      'a character device',
      { header: { name: objectName, type: 'character-device', devmajor: 1, devminor: 3 } },
      /character device/,
    ],
    [
      'a block device',
      { header: { name: objectName, type: 'block-device', devmajor: 8, devminor: 0 } },
      /block device/,
    ],
    ['a fifo', { header: { name: objectName, type: 'fifo' } }, /fifo/],
    ['a directory', { header: { name: 'objects/', type: 'directory' } }, /directory/],
  ]
  for (const [label, member, message] of memberTypes) {
    it(`refuses ${label}`, async () => {
      await refuses([json!, member], err => {
        assert.ok(err instanceof PvrMemberTypeError, err.message)
        assert.match(err.message, message)
        assert.match(err.message, /expected a regular file/)
      })
    })
  }

  it('refuses a symlink even as the first member', async () => {
    await refuses([{ header: { name: 'json', type: 'symlink', linkname: '/etc/passwd' } }], err =>
      assert.ok(err instanceof PvrMemberTypeError),
    )
  })

  const names: Array<[string, string, RegExp]> = [
    ['a ".." name', '../x', /climbs out/],
    ['a ".." inside objects/', 'objects/../../etc/cron.d/x', /climbs out/],
    ['an absolute name', '/abs', /is absolute/],
    ['an uppercase sha', `objects/${sha256('x').toUpperCase()}`, /lowercase 64-hex/],
    ['a name that is neither json nor an object', 'README', /is neither/],
    ['"./json"', './json', /is neither/],
  ]
  for (const [label, name, message] of names) {
    it(`refuses ${label}`, async () => {
      await refuses([json!, { header: { name }, body: 'x' }], err => {
        assert.ok(err instanceof PvrMemberNameError, err.message)
        assert.equal(err.member, name)
        assert.match(err.message, message)
      })
    })
  }

  it('refuses a duplicate object member', async () => {
    await refuses([...smallExportMembers(), first!], err => {
      assert.ok(err instanceof PvrDuplicateMemberError, err.message)
      assert.equal(err.member, objectName)
    })
  })

  it('refuses a second json member', async () => {
    await refuses([...smallExportMembers(), json!], err =>
      assert.ok(err instanceof PvrDuplicateMemberError, err.message),
    )
  })

  it('refuses an archive whose first member is not json', async () => {
    const [, ...objects] = smallExportMembers()
    await refuses([...objects, json!], err => {
      assert.ok(err instanceof PvrStateMemberError, err.message)
      assert.equal(err.found, objectName)
    })
  })

  it('refuses an empty archive', async () => {
    await refuses([], err => {
      assert.ok(err instanceof PvrStateMemberError, err.message)
      assert.match(err.message, /empty archive/)
    })
  })

  it('refuses a json larger than maxStateBytes before reading it', async () => {
    await refuses(
      smallExportMembers(),
      err => {
        assert.ok(err instanceof StateTooLargeError, err.message)
        assert.equal(err.limitBytes, 64)
      },
      { maxStateBytes: 64 },
    )
  })

  it('refuses an object whose bytes do not match its name, and the sink keeps nothing', async () => {
    const { shaA } = smallRevision()
    const members = smallExportMembers().map(member =>
      member.header.name === `objects/${shaA}` ? { ...member, body: 'first object!\n' } : member,
    )
    const sink = await refuses(members, err => {
      assert.ok(err instanceof PvrObjectHashMismatchError, err.message)
      assert.equal(err.sha256, shaA)
      assert.equal(err.actualSha256, sha256('first object!\n'))
    })
    assert.equal(sink.objects.has(shaA), false)
    assert.ok((sink.receivedBytes.get(shaA) ?? 0) < 'first object!\n'.length)
  })

  it('refuses an export missing an object, listing it', async () => {
    const { shaB } = smallRevision()
    const members = smallExportMembers().filter(member => member.header.name !== `objects/${shaB}`)
    await refuses(members, err => {
      assert.ok(err instanceof PvrMissingObjectsError, err.message)
      assert.deepEqual(err.missing, [shaB])
      assert.match(err.message, new RegExp(shaB))
    })
  })

  it('refuses an export whose state breaks a rule', async () => {
    const { state } = smallRevision()
    const bad = JSON.stringify({ ...state, '../escape': state['app/root.squashfs'] })
    await refuses([{ header: { name: 'json' }, body: bad }], err =>
      assert.ok(err instanceof InvalidKeyError, err.message),
    )
  })
})

describe('importPvrExport refuses corrupt archives', () => {
  it('refuses a truncated gzip stream, saying it ends too soon', async () => {
    const tgz = await makeTar(smallExportMembers(), { gzip: true })
    await assert.rejects(
      importPvrExport(chunksOf(tgz.subarray(0, tgz.length - 20)), new MemorySink()),
      (err: Error) => err instanceof PvrCorruptArchiveError && /ends too soon/.test(err.message),
    )
  })

  it('refuses bytes that are not a tar', async () => {
    await assert.rejects(
      importPvrExport(chunksOf(Buffer.alloc(2048, 0x41)), new MemorySink()),
      PvrCorruptArchiveError,
    )
  })

  it('refuses a tar cut off inside an object', async () => {
    const tar = await makeTar(smallExportMembers())
    await assert.rejects(
      importPvrExport(chunksOf(tar.subarray(0, 1536 + 5)), new MemorySink()),
      PvrCorruptArchiveError,
    )
  })
})
