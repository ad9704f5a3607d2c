import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FloorEntry } from '../../src/exchange/index.js'
import { FloorView } from '../../src/node/floor.js'

const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelf'
const OTHER = '12D3KooWOtherOtherOtherOtherOtherOtherA'

function entry(peer: string, updatedAtMs: number, name = 'other'): FloorEntry {
  return {
    peer,
    name,
    fleet: 'floor',
    installed: null,
    newest: null,
    handover: null,
    trial: null,
    updatedAtMs,
  }
}

function clock(startMs = 1_000_000): { now: () => number; advance(ms: number): void } {
  let nowMs = startMs
  return { now: () => nowMs, advance: ms => void (nowMs += ms) }
}

describe('floor view', () => {
  it('keeps the newest entry by the origin timestamp and ignores older relays', () => {
    const view = new FloorView({ selfPeer: SELF })
    assert.equal(view.merge([entry(OTHER, 200, 'new')]), 1)
    assert.equal(view.merge([entry(OTHER, 100, 'old')]), 0)
    assert.equal(view.entry(OTHER)?.name, 'new')
  })

  it('ignores what peers relay about this device itself', () => {
    const view = new FloorView({ selfPeer: SELF })
    view.setSelf({
      name: 'me',
      fleet: 'floor',
      installed: null,
      newest: null,
      handover: null,
      trial: null,
    })
    assert.equal(view.merge([entry(SELF, Number.MAX_SAFE_INTEGER, 'impostor')]), 0)
    assert.equal(view.entry(SELF)?.name, 'me')
  })

  it('expires an entry not refreshed in time, and an old copy does not bring it back', () => {
    const time = clock()
    const view = new FloorView({ selfPeer: SELF, expireMs: 1000, now: time.now })
    view.merge([entry(OTHER, 500)])
    time.advance(999)
    assert.equal(view.rows().length, 1)
    assert.equal(view.rows()[0]?.lastSeenAgeMs, 999)
    time.advance(2)
    assert.equal(view.rows().length, 0)
    assert.equal(view.merge([entry(OTHER, 500)]), 0, 'the expired version is not news')
    assert.equal(view.merge([entry(OTHER, 501)]), 1, 'a newer one is')
  })

  it('hands out only changed entries once, everything on request', () => {
    const view = new FloorView({ selfPeer: SELF })
    view.merge([entry(OTHER, 1)])
    assert.deepEqual(
      view.entries('changed').map(e => e.peer),
      [OTHER],
    )
    assert.deepEqual(view.entries('changed'), [])
    assert.equal(view.entries('all').length, 1)
  })

  it('does not re-stamp its own entry when only the time would change', () => {
    const view = new FloorView({ selfPeer: SELF })
    const status = {
      name: 'me',
      fleet: 'floor',
      installed: null,
      newest: null,
      handover: null,
      trial: null,
    }
    assert.equal(view.setSelf(status), true)
    view.entries('changed')
    assert.equal(view.setSelf(status), false)
    assert.deepEqual(view.entries('changed'), [])
    assert.equal(view.setSelf(status, true), true, 'a forced refresh re-stamps')
  })

  it('caps a timestamp from the future, so it cannot hold an entry still for longer than the skew', () => {
    const time = clock(1_000_000)
    const view = new FloorView({ selfPeer: SELF, maxFutureSkewMs: 5000, now: time.now })
    assert.equal(view.merge([entry(OTHER, Number.MAX_SAFE_INTEGER, 'forged')]), 1)
    assert.equal(view.entry(OTHER)?.updatedAtMs, 1_005_000, 'cut to now + skew')
    time.advance(1000)
    assert.equal(view.merge([entry(OTHER, 1_001_000, 'genuine')]), 0, 'held back within the skew')
    time.advance(4001)
    assert.equal(view.merge([entry(OTHER, 1_005_001, 'genuine')]), 1, 'accepted once past it')
    assert.equal(view.entry(OTHER)?.name, 'genuine')
  })

  it('keeps showing a device whose clock runs ahead, taking each of its updates', () => {
    const time = clock(1_000_000)
    const aheadMs = 60_000
    const view = new FloorView({ selfPeer: SELF, maxFutureSkewMs: 5000, now: time.now })
    assert.equal(view.merge([entry(OTHER, time.now() + aheadMs, 'first')]), 1)
    time.advance(10)
    assert.equal(view.merge([entry(OTHER, time.now() + aheadMs, 'second')]), 1)
    assert.equal(view.entry(OTHER)?.name, 'second')
    assert.equal(view.merge([entry(OTHER, 1_004_000, 'in range')]), 0, 'older than the capped one')
  })
})
