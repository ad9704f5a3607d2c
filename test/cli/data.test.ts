import assert from 'node:assert/strict'
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseRelease, releaseId } from '../../src/release/index.js'
import { openStore } from '../../src/store/index.js'
import { revisionFixture } from '../fixtures.js'
import {
  assertOneLineFailure,
  FIXTURE_OBJECTS,
  FIXTURE_STATE_BYTES,
  REV1_ID,
  REV1_OBJECT_BYTES,
  REV2_ID,
  removeDir,
  runCli,
  runJson,
  runOk,
  tempDir,
} from './helpers.js'

interface ImportReport {
  revision: string
  objects: number
  added: number
  addedBytes: number
  stateBytes: number
  stateAdded: boolean
}

/** The delta rev1 → rev2 of MANIFEST.md: two objects, 844,186 bytes. */
const REV2_NEW_OBJECTS = [
  '72d1f3a1da68ee00b8a02c703547b1b4e52c0ff4373f3c3ede299b055663c528',
  'e07ecdef98b621439fcfea7b61ff92d86cae34468f2503726a2d28cd218f44b2',
]
const REV2_NEW_OBJECT_BYTES = 844_186

// the steps build on each other (import, import, export, fsck, damage, fsck), so they share a
// data directory and run in order
describe('pvswarm import, export and fsck on one data directory', () => {
  let dir: string
  let data: string
  before(async () => {
    dir = await tempDir()
    data = join(dir, 'd')
  })
  after(() => removeDir(dir))

  it('import rev1 into a new data directory adds all its objects and its state', async () => {
    const report = await runJson<ImportReport>(['import', revisionFixture('rev1'), '--data', data])
    assert.deepEqual(report, {
      revision: REV1_ID,
      objects: FIXTURE_OBJECTS,
      added: FIXTURE_OBJECTS,
      addedBytes: REV1_OBJECT_BYTES,
      stateBytes: FIXTURE_STATE_BYTES,
      stateAdded: true,
    })
  })

  it('import rev2 then adds only the MANIFEST delta, plus the rev2 state', async () => {
    const before = new Set(await readdir(join(data, 'objects')))

    const report = await runJson<ImportReport>(['import', revisionFixture('rev2'), '--data', data])

    assert.equal(report.revision, REV2_ID)
    assert.equal(report.objects, FIXTURE_OBJECTS)
    assert.equal(report.added, REV2_NEW_OBJECTS.length)
    assert.equal(report.addedBytes, REV2_NEW_OBJECT_BYTES)
    assert.equal(report.stateAdded, true)
    assert.equal(report.stateBytes, FIXTURE_STATE_BYTES)
    const added = (await readdir(join(data, 'objects'))).filter(name => !before.has(name))
    assert.deepEqual(added.sort(), [...REV2_NEW_OBJECTS, REV2_ID].sort())
  })

  it('export of rev2 is a pvr export that checks as the same revision', async () => {
    const out = join(dir, 'x.tgz')
    await runOk(['export', REV2_ID, '--data', data, '--out', out])

    const check = await runJson(['revision', 'check', out])
    assert.equal(check['revision'], REV2_ID)
    assert.equal(check['objects'], FIXTURE_OBJECTS)
    assert.equal(check['objectBytes'], REV1_OBJECT_BYTES)
  })

  it('export refuses an id that is not a revision and an output it cannot write', async () => {
    const kernel = 'b9ea6660d2abac0b2d65aaf11d07cb9d9012b4beb1287d6eb539fccecd1aebd2'
    const absent = 'f'.repeat(64)
    // one after the other: each opens the store, which one process at a time may hold
    const results = []
    for (const [revision, out] of [
      [kernel, join(dir, 'kernel.tgz')],
      [absent, join(dir, 'absent.tgz')],
      [REV2_ID, join(dir, 'no-dir', 'x.tgz')],
      ['rev2', join(dir, 'y.tgz')],
    ] as const) {
      results.push(await runCli(['export', revision, '--data', data, '--out', out]))
    }
    const [notRevision, notHeld, unwritable, notAnId] = results
    assertOneLineFailure(notRevision!, new RegExp(`${kernel} .*not a revision state`))
    assertOneLineFailure(notHeld!, new RegExp(`revision ${absent} is not in`))
    assertOneLineFailure(unwritable!, /no-dir\/x\.tgz: no such file or directory$/)
    assertOneLineFailure(notAnId!, /expected a revision id/)
    // nothing half-written is left where the outputs would have gone
    const left = (await readdir(dir)).filter(name => name !== 'd' && name !== 'x.tgz')
    assert.deepEqual(left, [])
  })

  it('fsck of the intact directory: every object checked, exit 0', async () => {
    const report = await runJson(['fsck', '--data', data])
    // 9 of rev1 + the 2 new of rev2 + the 2 states
    assert.equal(report['objectsChecked'], FIXTURE_OBJECTS + 2 + 2)
    assert.deepEqual(report['objectsBad'], [])
    assert.deepEqual(report['quarantined'], [])
  })

  it('fsck after one object file was damaged: exit 1 naming it, and it is quarantined', async () => {
    const damagedSha = REV2_NEW_OBJECTS[1] ?? ''
    const path = join(data, 'objects', damagedSha)
    const bytes = await readFile(path)
    bytes[0] = (bytes[0] ?? 0) ^ 0xff
    await writeFile(path, bytes)

    const result = await runCli(['fsck', '--data', data])

    assert.equal(result.code, 1)
    assertOneLineFailure(result, new RegExp(`object ${damagedSha}`))
    assert.match(result.stdout, new RegExp(`quarantined ${damagedSha}`))
    assert.ok(!(await readdir(join(data, 'objects'))).includes(damagedSha))
    const quarantine = await readdir(join(data, 'quarantine'))
    assert.ok(
      quarantine.some(name => name.startsWith(damagedSha)),
      quarantine.join(', '),
    )
    // once the rotten object is gone, the directory is clean again
    await runOk(['fsck', '--data', data])
  })

  it('fsck of a directory that does not exist fails and does not create it', async () => {
    const missing = join(dir, 'typo')
    assertOneLineFailure(await runCli(['fsck', '--data', missing]), /typo: no such data directory/)
    await assert.rejects(access(missing), { code: 'ENOENT' })
  })

  it('fsck of a directory that is not a data directory fails and leaves it as it was', async () => {
    const other = join(dir, 'notes')
    await mkdir(other)
    assertOneLineFailure(
      await runCli(['fsck', '--data', other]),
      /notes: not a pvswarm data directory \(no objects\/ in it/,
    )
    assert.deepEqual(await readdir(other), [])

    // a git directory has objects/ too
    await mkdir(join(other, 'objects'))
    assertOneLineFailure(
      await runCli(['fsck', '--data', other]),
      /notes: not a pvswarm data directory \(no releases\/ in it/,
    )
    assert.deepEqual(await readdir(other), ['objects'])
  })
})

describe('pvswarm export of a revision a release brought', () => {
  let dir: string
  before(async () => {
    dir = await tempDir()
  })
  after(() => removeDir(dir))

  it('writes the revision of an accepted release, and names what is missing once an object is gone', async () => {
    const key = join(dir, 'release.key')
    const release = join(dir, 'r1.json')
    const data = join(dir, 'data')
    await runOk(['keygen', '--out', key])
    await runOk([
      ...['release', 'create', '--revision', revisionFixture('rev1'), '--fleet', 'f'],
      ...['--sequence', '1', '--key', key, '--out', release],
    ])
    await runOk(['seed', release, '--revision', revisionFixture('rev1'), '--data', data])
    // what a daemon does once it has judged the seed: the release goes among the accepted ones
    const bytes = await readFile(release)
    const store = await openStore({ dataDir: data })
    await store.putRelease(releaseId(parseRelease(bytes)), bytes)
    await store.close()

    const out = join(dir, 'rev1.tgz')
    await runOk(['export', REV1_ID, '--data', data, '--out', out])
    const check = await runJson(['revision', 'check', out])
    assert.equal(check['revision'], REV1_ID)
    assert.equal(check['objects'], FIXTURE_OBJECTS)

    const [gone] = (await readdir(join(data, 'objects'))).sort()
    await rm(join(data, 'objects', gone!))
    assertOneLineFailure(
      await runCli(['export', REV1_ID, '--data', data, '--out', join(dir, 'again.tgz')]),
      new RegExp(
        `1 of the ${FIXTURE_OBJECTS} objects of revision ${REV1_ID} are not in .*data \\(first ${gone}\\)`,
      ),
    )
  })
})
