import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { objectsToDrop, type DropCopiesInput } from '../../src/policy/index.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)
const D = 'd'.repeat(64)

function input(overrides: Partial<DropCopiesInput> = {}): DropCopiesInput {
  return {
    installed: {
      id: 'r1',
      objects: [
        { sha256: A, size: 10 },
        { sha256: B, size: 20 },
        { sha256: C, size: 30 },
      ],
    },
    pantavisor: new Map([
      [A, 10],
      [B, 20],
      [C, 30],
      [D, 40],
    ]),
    stored: new Map([
      [A, 10],
      [B, 20],
      [C, 30],
      [D, 40],
    ]),
    stillNeeded: [],
    ...overrides,
  }
}

describe('objectsToDrop', () => {
  it('drops every stored object of the installed release once Pantavisor holds them all', () => {
    const decision = objectsToDrop(input())
    assert.equal(decision.verdict, 'drop')
    assert.deepEqual(decision.verdict === 'drop' && decision.objects, [A, B, C])
    assert.equal(decision.verdict === 'drop' && decision.bytes, 60)
    assert.match(
      decision.reason,
      /Pantavisor holds all 3 objects; dropping 3 store copies \(60 bytes\)/,
    )
  })

  it('keeps what a release still downloading or not installed needs', () => {
    const decision = objectsToDrop(
      input({
        stillNeeded: [
          { id: 'r2', objects: [{ sha256: B }, { sha256: D }] },
          { id: 'r1', objects: [{ sha256: A }] },
        ],
      }),
    )
    assert.equal(decision.verdict, 'drop')
    if (decision.verdict !== 'drop') return
    assert.deepEqual(decision.objects, [A, C])
    assert.deepEqual(decision.kept, [{ sha256: B, neededBy: 'r2' }])
    assert.equal(decision.bytes, 40)
  })

  it('never names an object the store does not hold, nor one of another release', () => {
    const decision = objectsToDrop(
      input({
        stored: new Map([
          [C, 30],
          [D, 40],
        ]),
      }),
    )
    assert.deepEqual(decision.verdict === 'drop' && decision.objects, [C])
  })

  it('keeps every copy when Pantavisor lacks an object of the release', () => {
    const decision = objectsToDrop(
      input({
        pantavisor: new Map([
          [A, 10],
          [C, 30],
        ]),
      }),
    )
    assert.equal(decision.verdict, 'keep-all')
    if (decision.verdict !== 'keep-all') return
    assert.deepEqual(decision.missing, [{ sha256: B, expectedSize: 20, pantavisorSize: undefined }])
    assert.match(
      decision.reason,
      /Pantavisor lacks 1 of 3 objects \(b{64}: expected 20 bytes, not listed\)/,
    )
  })

  it('keeps every copy when Pantavisor lists an object at another size (an upload cut short)', () => {
    const decision = objectsToDrop(
      input({
        pantavisor: new Map([
          [A, 10],
          [B, 20],
          [C, 29],
        ]),
      }),
    )
    assert.equal(decision.verdict, 'keep-all')
    assert.match(decision.reason, /c{64}: expected 30 bytes, listed with 29 bytes/)
  })
})
