import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isValidLocalName, localRevisionName } from '../../src/pantavisor/index.js'

const ID_A = 'a1b2c3d4'.repeat(8)
const ID_B = 'ffee0011'.repeat(8)

describe('localRevisionName', () => {
  it('names a release locals/pvswarm-<fleet>-<sequence>', () => {
    const name = localRevisionName({ fleet: 'line-1', sequence: 42 }, ID_A)
    assert.equal(name, 'locals/pvswarm-line-1-42')
    assert.equal(isValidLocalName(name), true)
  })

  it('cuts a long fleet short and adds the release id, staying valid and stable', () => {
    const fleet = 'assembly-hall-7.north-wing.robot-cells.' + 'x'.repeat(25)
    const release = { fleet, sequence: 123456789 }
    const name = localRevisionName(release, ID_A)

    assert.equal(isValidLocalName(name), true)
    assert.ok(name.length - 'locals/'.length <= 64)
    assert.equal(name.split('/').length, 2)
    assert.ok(name.startsWith('locals/pvswarm-assembly-hall-7'))
    assert.ok(name.endsWith('-123456789-a1b2c3d4'))
    assert.equal(localRevisionName(release, ID_A), name)
    assert.notEqual(localRevisionName(release, ID_B), name)
  })

  it('replaces characters Pantavisor does not take and marks the name with the release id', () => {
    const name = localRevisionName({ fleet: 'hall 3/west', sequence: 1 }, ID_B)
    assert.equal(name, 'locals/pvswarm-hall_3_west-1-ffee0011')
    assert.equal(isValidLocalName(name), true)
  })
})
