import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseCommand, parseReport } from './device-protocol.js'

describe('device process protocol', () => {
  it('reads the three commands', () => {
    assert.deepEqual(parseCommand('{"cmd":"stats","id":3}'), { cmd: 'stats', id: 3 })
    assert.deepEqual(parseCommand('{"cmd":"stop","id":0}'), { cmd: 'stop', id: 0 })
    assert.deepEqual(
      parseCommand('{"cmd":"seed","id":1,"release":"eyJ9","revisionPath":"/r.tgz"}'),
      { cmd: 'seed', id: 1, release: 'eyJ9', revisionPath: '/r.tgz' },
    )
  })

  it('refuses anything else as a command', () => {
    for (const line of [
      'stats',
      '{"cmd":"reboot","id":1}',
      '{"cmd":"stats"}',
      '{"cmd":"seed","id":1,"release":""}',
      '[1]',
    ]) {
      assert.equal(parseCommand(line), undefined, line)
    }
  })

  it('tells reports from other output', () => {
    assert.deepEqual(parseReport('{"sim":"fatal","message":"x"}'), { sim: 'fatal', message: 'x' })
    assert.equal(parseReport('{"level":30,"msg":"device started"}'), undefined)
    assert.equal(parseReport('{"sim":"bogus"}'), undefined)
    assert.equal(parseReport('(node:1) Warning: something'), undefined)
  })
})
