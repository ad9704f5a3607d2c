import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { revisionFixture } from '../fixtures.js'
import {
  argv,
  assertOneLineFailure,
  FIXTURE_OBJECTS,
  REV1_ID,
  REV1_OBJECT_BYTES,
  removeDir,
  runCli,
  runJson,
  runOk,
  tempDir,
} from './helpers.js'

const DAY_MS = 24 * 60 * 60 * 1000

interface ShownRelease {
  releaseId: string
  fleet: string
  sequence: number
  issuedAt: string
  expiresAt: string | null
  revision: string
  objects: number
  objectBytes: number
  signedBy: string[]
}

/** Copies `file` with the byte at `offset` xor-ed with `mask`. */
async function flipByte(file: string, to: string, offset: number, mask: number): Promise<void> {
  const bytes = await readFile(file)
  bytes[offset] = (bytes[offset] ?? 0) ^ mask
  await writeFile(to, bytes)
}

describe('pvswarm release', () => {
  let dir: string
  let key: string
  let release: string
  let signer: string
  let stranger: string

  before(async () => {
    dir = await tempDir()
    key = join(dir, 'k')
    release = join(dir, 'r.json')
    const [signerKey, strangerKey] = await Promise.all([
      runJson<{ publicKey: string }>(argv`keygen --out ${key}`),
      runJson<{ publicKey: string }>(argv`keygen --out ${join(dir, 'other')}`),
    ])
    signer = signerKey.publicKey
    stranger = strangerKey.publicKey
    const rev1 = revisionFixture('rev1')
    await runOk(
      argv`release create --revision ${rev1} --fleet f --sequence 3 --key ${key}
           --expires 30d --out ${release}`,
    )
  })
  after(() => removeDir(dir))

  it('create writes a release that show describes: fleet, sequence, objects, expiry', async () => {
    const shown = await runJson<ShownRelease>(argv`release show ${release}`)

    assert.equal(shown.fleet, 'f')
    assert.equal(shown.sequence, 3)
    assert.equal(shown.revision, REV1_ID)
    assert.equal(shown.objects, FIXTURE_OBJECTS)
    assert.equal(shown.objectBytes, REV1_OBJECT_BYTES)
    assert.deepEqual(shown.signedBy, [signer])
    assert.ok(shown.expiresAt !== null, 'expiresAt not set')
    const lifetimeMs = Date.parse(shown.expiresAt) - Date.parse(shown.issuedAt)
    assert.ok(Math.abs(lifetimeMs - 30 * DAY_MS) <= 1000, `lifetime ${lifetimeMs} ms`)
  })

  it('verify accepts the release with the signer key trusted', async () => {
    const { stdout } = await runOk(argv`release verify ${release} --trust ${signer}`)
    assert.match(stdout, /^OK: .*fleet f, sequence 3/)
  })

  it('verify refuses it with only another key trusted, naming the signature', async () => {
    const result = await runCli(argv`release verify ${release} --trust ${stranger}`)
    assert.equal(result.code, 1)
    assertOneLineFailure(result, /refused: .*signature/)
  })

  it('verify refuses a release file with one flipped byte', async () => {
    const text = await readFile(release, 'latin1')
    const altered = join(dir, 'altered.json')
    const broken = join(dir, 'broken.json')
    // a digit of issuedAt's seconds xor 1 is still a digit: the document stays well formed and
    // only the signature can tell
    await flipByte(release, altered, text.indexOf('"issuedAt":"') + '"issuedAt":"'.length + 18, 1)
    // the opening brace xor 1 is `z`: no longer JSON
    await flipByte(release, broken, 0, 1)

    const [quietly, visibly] = await Promise.all([
      runCli(argv`release verify ${altered} --trust ${signer}`),
      runCli(argv`release verify ${broken} --trust ${signer}`),
    ])

    assert.equal(quietly.code, 1)
    assertOneLineFailure(quietly, /altered\.json: refused: .*signature .*does not verify/)
    assert.equal(visibly.code, 1)
    assertOneLineFailure(visibly, /broken\.json: .*JSON/)
  })

  it('verify refuses a release for another fleet than the device is in', async () => {
    const result = await runCli(argv`release verify ${release} --trust ${signer} --fleet other`)
    assert.equal(result.code, 1)
    assertOneLineFailure(result, /refused: .*fleet other/)
  })

  it('verify needs --trust, and a --trust that is a public key', async () => {
    const [missing, malformed] = await Promise.all([
      runCli(argv`release verify ${release}`),
      runCli(argv`release verify ${release} --trust not-a-key`),
    ])
    assertOneLineFailure(missing, /required option '--trust/)
    assertOneLineFailure(malformed, /not-a-key.*ed25519:/)
  })

  it('create from a pvr checkout directory gives the same revision as from the export', async () => {
    // MANIFEST.md, "Making a pvr checkout from a tarball"
    const checkout = join(dir, 'rev1')
    await mkdir(join(checkout, '.pvr'), { recursive: true })
    await promisify(execFile)('tar', [
      '-xzf',
      revisionFixture('rev1'),
      '-C',
      join(checkout, '.pvr'),
    ])
    await writeFile(join(checkout, '.pvr', 'config'), '{}\n')

    const out = join(dir, 'from-checkout.json')
    const created = await runJson<ShownRelease>(
      argv`release create --revision ${checkout} --fleet f --sequence 4 --key ${key} --out ${out}`,
    )

    assert.equal(created.revision, REV1_ID)
    assert.equal(created.objects, FIXTURE_OBJECTS)
    assert.equal(created.objectBytes, REV1_OBJECT_BYTES)
    assert.equal(created.expiresAt, null)
  })

  it('create needs a key, and refuses a bad or past --expires or a chunk size out of range before reading the revision', async () => {
    const rev1 = revisionFixture('rev1')
    const absent = join(dir, 'no-such.tgz')
    const out = join(dir, 'never.json')
    const [keyless, badExpiry, pastExpiry, tinyChunks] = await Promise.all([
      runCli(argv`release create --revision ${rev1} --fleet f --sequence 5 --out ${out}`),
      runCli(
        argv`release create --revision ${absent} --fleet f --sequence 5 --key ${key}
             --expires soon --out ${out}`,
      ),
      runCli(
        argv`release create --revision ${absent} --fleet f --sequence 5 --key ${key}
             --expires 2020-01-01T00:00:00Z --out ${out}`,
      ),
      runCli(
        argv`release create --revision ${absent} --fleet f --sequence 5 --key ${key}
             --chunk-bytes 5 --out ${out}`,
      ),
    ])
    assertOneLineFailure(keyless, /required option '--key/)
    // the revision does not exist, so a failure about --expires shows it was checked first
    assertOneLineFailure(badExpiry, /--expires soon: expected a duration/)
    assertOneLineFailure(pastExpiry, /--expires 2020-01-01T00:00:00Z: already past/)
    assertOneLineFailure(tinyChunks, /--chunk-bytes 5: expected 16384 to 16777216/)
  })
})
