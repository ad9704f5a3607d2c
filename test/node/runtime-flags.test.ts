import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEVICE_NODE_FLAGS, missingDeviceFlags } from '../../src/node/runtime-flags.js'

describe('missingDeviceFlags', () => {
  it('asks for every device flag when node was started plain', () => {
    assert.deepEqual(missingDeviceFlags([], undefined), [...DEVICE_NODE_FLAGS])
  })

  it('asks for nothing once node runs with the flags', () => {
    assert.deepEqual(missingDeviceFlags([...DEVICE_NODE_FLAGS], ''), [])
  })

  it('takes a value the user chose, on the command line or in NODE_OPTIONS, any spelling', () => {
    assert.deepEqual(missingDeviceFlags(['--max_semi_space_size=8'], undefined), [])
    assert.deepEqual(missingDeviceFlags(['--import', 'x.js'], ' --max-semi-space-size=4 '), [])
  })

  it('is not fooled by other flags or by a value that looks like a flag name', () => {
    assert.deepEqual(
      missingDeviceFlags(['--max-old-space-size=100', 'max-semi-space-size'], '--trace-gc'),
      [...DEVICE_NODE_FLAGS],
    )
  })
})
