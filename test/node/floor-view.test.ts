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
})
