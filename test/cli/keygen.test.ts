import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { assertOneLineFailure, removeDir, runCli, runOk, tempDir } from './helpers.js'

describe('pvswarm keygen', () => {
  let dir: string
  before(async () => {
    dir = await tempDir()
  })
  after(() => removeDir(dir))

  it('writes a private key file readable only by its owner and prints the public key', async () => {
    const keyFile = join(dir, 'k')
    const { stdout, stderr } = await runOk(['keygen', '--out', keyFile])

    assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
    const printed = stdout.match(/^ed25519:[A-Za-z0-9_-]{43}$/m)?.[0]
    assert.ok(printed !== undefined, `no public key line in:\n${stdout}`)
    const file = JSON.parse(await readFile(keyFile, 'utf8')) as { publicKey: string }
    assert.equal(file.publicKey, printed)
    assert.equal(stderr, '')
  })

  it('refuses to overwrite an existing key, leaving it as it was', async () => {
    const keyFile = join(dir, 'kept')
    await runOk(['keygen', '--out', keyFile])
    const before = await readFile(keyFile)

    const again = await runCli(['keygen', '--out', keyFile])

    assertOneLineFailure(again, /already exists/)
    assert.ok((await readFile(keyFile)).equals(before))
  })

  it('names the path when the directory does not exist', async () => {
    const keyFile = join(dir, 'missing', 'k')
    assertOneLineFailure(await runCli(['keygen', '--out', keyFile]), /missing\/k: no such file/)
  })
})
