import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { revisionFixture, statesDir } from '../fixtures.js'
import {
  assertOneLineFailure,
  corruptExportObject,
  FIXTURE_OBJECTS,
  REV2_ID,
  REV1_OBJECT_BYTES,
  removeDir,
  runCli,
  runJson,
  tempDir,
} from './helpers.js'

describe('pvswarm revision check', () => {
  let dir: string
  before(async () => {
    dir = await tempDir()
  })
  after(() => removeDir(dir))

  it('on the fixture states: exit 1 only for the stale _sigs/_hostconfig.json of 01', async () => {
    const names = (await readdir(statesDir)).filter(name => name.endsWith('.json')).sort()
    assert.ok(names.length >= 3, `expected the three fixture states, found ${names.join(', ')}`)
    const results = await Promise.all(
      names.map(name => runCli(['revision', 'check', join(statesDir, name)])),
    )

    for (const [index, name] of names.entries()) {
      const result = results[index]
      assert.ok(result !== undefined)
      if (name.startsWith('01_')) {
        assert.equal(result.code, 1, name)
        assert.match(result.stdout, /_sigs\/_hostconfig\.json: INVALID \(.*stale/)
        assertOneLineFailure(result, /_sigs\/_hostconfig\.json: .*stale/)
        // its other signatures are reported valid: only the stale one fails the check
        assert.match(result.stdout, /_sigs\/bsp\.json: valid/)
      } else {
        assert.equal(result.code, 0, `${name}: ${result.stderr}`)
        assert.match(result.stdout, /^revision [0-9a-f]{64}/)
      }
    }
  })

  it('on rev2.tgz: exit 0, every object verified, with the documented --json shape', async () => {
    const report = await runJson(['revision', 'check', revisionFixture('rev2')])

    assert.deepEqual(report, {
      revision: REV2_ID,
      canonicalised: false,
      objects: FIXTURE_OBJECTS,
      // rev2 has the same object bytes as rev1 (MANIFEST.md)
      objectBytes: REV1_OBJECT_BYTES,
      warnings: [],
      signatures: [],
    })
  })

  it('on an export with one object byte changed: exit 1 naming the object', async () => {
    const damagedSha = '72d1f3a1da68ee00b8a02c703547b1b4e52c0ff4373f3c3ede299b055663c528'
    const damaged = join(dir, 'damaged.tgz')
    await corruptExportObject(revisionFixture('rev2'), damaged, damagedSha)

    const result = await runCli(['revision', 'check', damaged])

    assert.equal(result.code, 1)
    assertOneLineFailure(result, new RegExp(`damaged\\.tgz: .*objects/${damagedSha}.*sha256`))
    assert.equal(result.stdout, '')
  })

  it('on a path that does not exist: one line naming it', async () => {
    const missing = join(dir, 'nothing-here.tgz')
    assertOneLineFailure(
      await runCli(['revision', 'check', missing]),
      /nothing-here\.tgz: no such file or directory$/,
    )
  })
})
