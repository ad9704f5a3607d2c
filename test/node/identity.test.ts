import assert from 'node:assert/strict'
import { chmod, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IDENTITY_FILE, IdentityFileError, loadOrCreateIdentity } from '../../src/node/index.js'
import { capturingLogger, tempDir } from './swarm-helpers.js'

test('a new identity is an Ed25519 key written 0600 to <dataDir>/identity.key', async t => {
  const dataDir = join(await tempDir(t, 'identity'), 'nested', 'data')

  const key = await loadOrCreateIdentity(dataDir)

  assert.equal(key.type, 'Ed25519')
  const info = await stat(join(dataDir, IDENTITY_FILE))
  assert.equal(info.mode & 0o777, 0o600)
  assert.deepEqual(await readdir(dataDir), [IDENTITY_FILE], 'no temporary file is left behind')
})

test('the identity survives a restart: the same peer id comes back', async t => {
  const dataDir = await tempDir(t, 'identity')

  const first = peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir))
  const second = peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir))

  assert.equal(second.toString(), first.toString())
})

test('processes racing on an empty data directory all end up with one identity', async t => {
  const dataDir = await tempDir(t, 'identity')

  const keys = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateIdentity(dataDir)))

  const ids = new Set(keys.map(key => peerIdFromPrivateKey(key).toString()))
  assert.equal(ids.size, 1)
  const onDisk = peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir)).toString()
  assert.ok(ids.has(onDisk))
})

test('an empty identity file is refused, naming the file', async t => {
  const dataDir = await tempDir(t, 'identity')
  const path = join(dataDir, IDENTITY_FILE)
  await writeFile(path, '')

  await assert.rejects(loadOrCreateIdentity(dataDir), (err: Error) => {
    assert.equal(err.name, 'IdentityFileError')
    assert.ok(err instanceof IdentityFileError)
    assert.match(err.message, new RegExp(`${path}.*empty`))
    return true
  })
})

test('a garbage identity file is refused rather than replaced', async t => {
  const dataDir = await tempDir(t, 'identity')
  await writeFile(join(dataDir, IDENTITY_FILE), 'not a key at all')

  await assert.rejects(loadOrCreateIdentity(dataDir), {
    name: 'IdentityFileError',
    message: /16 bytes\) is not a libp2p protobuf private key/,
  })
})

test('a key file readable by others is tightened to 0600, with a warning', async t => {
  const dataDir = await tempDir(t, 'identity')
  const first = await loadOrCreateIdentity(dataDir)
  const path = join(dataDir, IDENTITY_FILE)
  await chmod(path, 0o644)
  const { logger, records } = capturingLogger()

  const again = await loadOrCreateIdentity(dataDir, { logger })

  assert.ok(again.equals(first))
  assert.equal((await stat(path)).mode & 0o777, 0o600)
  assert.ok(records.some(r => /tightened to 0600/.test(String(r.msg))))
})
