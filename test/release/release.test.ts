import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  InvalidKeyError,
  InvalidReleaseError,
  checkReleaseRevision,
  checkSignatures,
  chunkCount,
  decodePublicKey,
  describeObject,
  encodeRelease,
  generateReleaseKey,
  parseRelease,
  readKeyFile,
  releaseId,
  signRelease,
  writeKeyFile,
} from '../../src/release/index.js'
import { signedFixtureRelease } from './helpers.js'

describe('release', () => {
  it('describes an object as whole sha256, size and one hash per chunk', async () => {
    const bytes = new Uint8Array(2.5 * 65536).map((_, i) => i % 251)
    const pieces = [bytes.subarray(0, 1000), bytes.subarray(1000, 100000), bytes.subarray(100000)]
    const object = await describeObject(pieces, 65536)
    assert.equal(object.size, bytes.byteLength)
    assert.equal(object.chunks.length, 3)
    const { createHash } = await import('node:crypto')
    assert.equal(object.sha256, createHash('sha256').update(bytes).digest('hex'))
    assert.equal(
      object.chunks[2],
      createHash('sha256').update(bytes.subarray(131072)).digest('hex'),
    )
  })

  it('gives an empty object one empty chunk', async () => {
    const object = await describeObject([], 65536)
    assert.equal(object.size, 0)
    assert.deepEqual(object.chunks, [
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ])
    assert.equal(chunkCount(0, 65536), 1)
  })

  it('round-trips a signed release of a real revision through its encoding', async () => {
    const { release, key } = await signedFixtureRelease()
    const parsed = parseRelease(encodeRelease(release))
    assert.deepEqual(parsed, release)
    assert.equal(releaseId(parsed), releaseId(release))
    assert.deepEqual(checkSignatures(parsed, [key.publicKey]).trustedValid, [key.publicKey])
    // rev1 of the fixtures: 9 objects, 21,578,551 bytes (MANIFEST.md)
    assert.equal(parsed.objects.length, 9)
    assert.equal(
      parsed.objects.reduce((sum, o) => sum + o.size, 0),
      21_578_551,
    )
  })

  it('keeps the release id when a second key co-signs', async () => {
    const { release } = await signedFixtureRelease()
    const second = generateReleaseKey()
    const cosigned = signRelease(release, second)
    assert.equal(releaseId(cosigned), releaseId(release))
    assert.equal(cosigned.signatures.length, 2)
  })

  it('finds a flipped bit anywhere in the signed body', async () => {
    const { release, key } = await signedFixtureRelease()
    const flipped = structuredClone(release)
    const object = flipped.objects[0]!
    object.size += 1
    assert.deepEqual(checkSignatures(flipped, [key.publicKey]).invalid, [key.publicKey])

    const renamed = { ...structuredClone(release), fleet: 'line-2' }
    assert.deepEqual(checkSignatures(renamed, [key.publicKey]).trustedValid, [])
  })

  it('does not check signatures by keys it does not trust', async () => {
    const { release, key } = await signedFixtureRelease()
    const other = generateReleaseKey()
    const check = checkSignatures(release, [other.publicKey])
    assert.deepEqual(check.trustedValid, [])
    assert.deepEqual(check.untrusted, [key.publicKey])
  })

  it('counts a key listed twice once', async () => {
    const { release, key } = await signedFixtureRelease()
    const doubled = { ...release, signatures: [...release.signatures, ...release.signatures] }
    assert.deepEqual(checkSignatures(doubled, [key.publicKey]).trustedValid, [key.publicKey])
  })

  it('refuses a state that does not hash to the revision id', async () => {
    const { release } = await signedFixtureRelease()
    const altered = structuredClone(release)
    altered.revision.state = altered.revision.state.replace('"#spec"', '"#spec" ')
    assert.throws(() => checkReleaseRevision(altered), InvalidReleaseError)
  })

  it('refuses an object list that differs from the revision', async () => {
    const { release } = await signedFixtureRelease()
    const short = { ...structuredClone(release), objects: release.objects.slice(1) }
    assert.throws(() => checkReleaseRevision(short), /missing/)
  })

  it('refuses malformed documents with the field named', () => {
    assert.throws(() => parseRelease(new TextEncoder().encode('{')), InvalidReleaseError)
    assert.throws(
      () => parseRelease(new TextEncoder().encode('{"format":"pvswarm-release@1"}')),
      /release field fleet/,
    )
  })

  it('refuses unsorted objects and wrong chunk counts', async () => {
    const { release } = await signedFixtureRelease()
    const unsorted = structuredClone(release)
    unsorted.objects.reverse()
    assert.throws(() => parseRelease(encodeUnchecked(unsorted)), /ascending order/)

    const chunky = structuredClone(release)
    chunky.objects[0]!.chunks.push(chunky.objects[0]!.chunks[0]!)
    assert.throws(() => parseRelease(encodeUnchecked(chunky)), /chunk hashes/)
  })

  it('writes key files 0600, refuses to overwrite them, and reads them back', async t => {
    const dir = await mkdtemp(join(tmpdir(), 'pvswarm-key-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const key = generateReleaseKey()
    const path = join(dir, 'release.key')
    await writeKeyFile(path, key)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    await assert.rejects(writeKeyFile(path, key), InvalidKeyError)
    const back = await readKeyFile(path)
    assert.equal(back.publicKey, key.publicKey)

    await chmod(path, 0o644)
    await assert.rejects(readKeyFile(path), /readable by others/)

    const broken = join(dir, 'broken.key')
    await writeFile(broken, '{"format":"pvswarm-release-key@1","secretKey":"abc"}', { mode: 0o600 })
    await assert.rejects(readKeyFile(broken), /secretKey/)
  })

  it('prints public keys as one short string and refuses malformed ones', () => {
    const key = generateReleaseKey()
    assert.match(key.publicKey, /^ed25519:[A-Za-z0-9_-]{43}$/)
    assert.equal(decodePublicKey(key.publicKey).byteLength, 32)
    assert.throws(() => decodePublicKey('ssh-ed25519 AAAA'), InvalidKeyError)
  })
})

function encodeUnchecked(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}
