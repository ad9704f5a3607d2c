import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { FleetKeyError, generateFleetKey, readFleetKey } from '../../src/node/index.js'
import { tempDir } from './swarm-helpers.js'

test('a generated fleet key is a swarm.key that reads back unchanged', async t => {
  const path = join(await tempDir(t, 'fleetkey'), 'swarm.key')
  const key = generateFleetKey()
  await writeFile(path, key)

  const read = await readFleetKey(path)

  assert.deepEqual(read, key)
  assert.match(
    new TextDecoder().decode(key),
    /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/,
  )
})

test('two generated fleet keys differ', () => {
  assert.notDeepEqual(generateFleetKey(), generateFleetKey())
})

test('a key written by another tool (CRLF, upper-case hex, no final newline) is accepted', async t => {
  const path = join(await tempDir(t, 'fleetkey'), 'swarm.key')
  const hex = 'AB'.repeat(32)
  await writeFile(path, `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${hex}`)

  const read = new TextDecoder().decode(await readFleetKey(path))

  assert.equal(read, `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`)
})

test('a key with a short secret is refused, naming the file and the line', async t => {
  const path = join(await tempDir(t, 'fleetkey'), 'swarm.key')
  await writeFile(path, `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(16)}\n`)

  await assert.rejects(readFleetKey(path), (err: Error) => {
    assert.ok(err instanceof FleetKeyError)
    assert.ok(err.message.includes(path))
    assert.match(err.message, /expected 64 hex digits on the third line, found 32 characters/)
    return true
  })
})

test('a key in another encoding is refused, quoting what was found', async t => {
  const path = join(await tempDir(t, 'fleetkey'), 'swarm.key')
  await writeFile(path, `/key/swarm/psk/1.0.0/\n/base64/\nq83vEjRWeJq83vEjRWeJq83vEjRWeJ\n`)

  await assert.rejects(readFleetKey(path), {
    name: 'FleetKeyError',
    message: /expected second line "\/base16\/", found "\/base64\/"/,
  })
})

test('a missing key file is a FleetKeyError, not a bare ENOENT', async t => {
  const path = join(await tempDir(t, 'fleetkey'), 'absent.key')

  await assert.rejects(readFleetKey(path), { name: 'FleetKeyError', message: /cannot be read/ })
})
