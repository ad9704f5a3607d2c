import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { releasesToRetire, type RetentionRelease } from '../../src/policy/index.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)
const D = 'd'.repeat(64)

function release(
  id: string,
  sequence: number,
  phase: RetentionRelease['phase'],
  objects: string[],
  fleet = 'floor',
): RetentionRelease {
  return { id, fleet, sequence, phase, objects: objects.map(sha256 => ({ sha256 })) }
}

describe('releasesToRetire', () => {
  it('keeps the newest release of a fleet and the newest installed one, retiring the rest', () => {
    const decision = releasesToRetire([
      release('r1', 1, 'installed', [A]),
      release('r2', 2, 'installed', [B]),
      release('r3', 3, 'failed', [C]),
      release('r4', 4, 'downloading', [D]),
    ])
    assert.deepEqual(decision.retired, ['r1', 'r3'])
    assert.deepEqual(decision.objects, [A, C])
    assert.match(decision.reasons.r3!, /sequence 3 \(failed\): superseded by sequence 4/)
  })

  it('never lets go of an object a kept release also lists', () => {
    const decision = releasesToRetire([
      release('r1', 1, 'downloading', [A, B, C]),
      release('r2', 2, 'downloading', [B, D]),
    ])
    assert.deepEqual(decision.retired, ['r1'])
    assert.deepEqual(decision.objects, [A, C])
  })

  it('keeps a failed newest release (peers may still fetch it) and the installed one before it', () => {
    const decision = releasesToRetire([
      release('r1', 1, 'installed', [A]),
      release('r2', 2, 'failed', [B]),
    ])
    assert.deepEqual(decision.retired, [])
    assert.deepEqual(decision.objects, [])
  })

  it('waits for a newer release to settle before retiring a complete one that may be in its hand-over', () => {
    const waiting = [release('r1', 1, 'complete', [A]), release('r2', 2, 'downloading', [B])]
    assert.deepEqual(releasesToRetire(waiting).retired, [])

    const settled = [release('r1', 1, 'complete', [A]), release('r2', 2, 'failed', [B])]
    assert.deepEqual(releasesToRetire(settled).retired, ['r1'])
    assert.deepEqual(releasesToRetire(settled).objects, [A])
  })

  it('retires a superseded complete release at once on a device that does not hand over', () => {
    const decision = releasesToRetire(
      [release('r1', 1, 'complete', [A]), release('r2', 2, 'downloading', [B])],
      { handsOver: false },
    )
    assert.deepEqual(decision.retired, ['r1'])
    assert.deepEqual(decision.objects, [A])
  })

  it('judges each fleet by its own releases', () => {
    const decision = releasesToRetire([
      release('a1', 7, 'downloading', [A], 'line-a'),
      release('b1', 1, 'downloading', [B], 'line-b'),
      release('b2', 2, 'downloading', [C], 'line-b'),
    ])
    assert.deepEqual(decision.retired, ['b1'])
    assert.deepEqual(decision.objects, [B])
  })
})
