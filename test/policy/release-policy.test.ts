import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decideRelease, type ReleasePolicyInput } from '../../src/policy/index.js'
import { generateReleaseKey, releaseId, signRelease } from '../../src/release/index.js'
import { signedFixtureRelease } from '../release/helpers.js'

const DAY_MS = 24 * 60 * 60 * 1000
const ISSUED = new Date('2026-12-01T12:00:00Z')

async function input(
  overrides: Partial<ReleasePolicyInput> = {},
  release?: Parameters<typeof signedFixtureRelease>[0],
) {
  const signed = await signedFixtureRelease({ issuedAt: ISSUED, ...release })
  const base: ReleasePolicyInput = {
    release: signed.release,
    releaseId: releaseId(signed.release),
    fleet: 'line-1',
    trustedKeys: [signed.key.publicKey],
    history: {},
    clock: { nowMs: ISSUED.getTime() + 60_000 },
  }
  return { ...base, ...overrides, signed }
}

describe('release policy', () => {
  it('accepts a release signed by a trusted key for this fleet', async () => {
    const decision = decideRelease(await input())
    assert.equal(decision.verdict, 'accept')
  })

  it('refuses a release signed by an untrusted key', async () => {
    const decision = decideRelease(await input({ trustedKeys: [generateReleaseKey().publicKey] }))
    assert.equal(decision.verdict, 'refuse')
    assert.equal(decision.verdict === 'refuse' && decision.code, 'not-signed')
  })

  it('refuses a release with one flipped bit', async () => {
    const base = await input()
    const flipped = structuredClone(base.release)
    flipped.sequence += 1
    const decision = decideRelease({ ...base, release: flipped })
    assert.equal(decision.verdict === 'refuse' && decision.code, 'bad-signature')
  })

  it('refuses a release for another fleet', async () => {
    const decision = decideRelease(await input({ fleet: 'line-2' }))
    assert.equal(decision.verdict === 'refuse' && decision.code, 'wrong-fleet')
  })

  it('refuses a lower sequence (anti-rollback)', async () => {
    const decision = decideRelease(
      await input({ history: { highestSequence: 5 } }, { sequence: 4 }),
    )
    assert.equal(decision.verdict === 'refuse' && decision.code, 'stale-sequence')
  })

  it('answers "already have" for the same release at the same sequence', async () => {
    const base = await input({}, { sequence: 5 })
    const decision = decideRelease({
      ...base,
      history: { highestSequence: 5, highestReleaseId: base.releaseId },
    })
    assert.equal(decision.verdict, 'already-have')
  })

  it('refuses different content at an already used sequence', async () => {
    const base = await input({}, { sequence: 5 })
    const decision = decideRelease({
      ...base,
      history: { highestSequence: 5, highestReleaseId: 'a'.repeat(64) },
    })
    assert.equal(decision.verdict === 'refuse' && decision.code, 'sequence-conflict')
  })

  it('refuses an expired release', async () => {
    const base = await input({}, { expiresAt: new Date(ISSUED.getTime() + DAY_MS) })
    const decision = decideRelease({ ...base, clock: { nowMs: ISSUED.getTime() + 2 * DAY_MS } })
    assert.equal(decision.verdict === 'refuse' && decision.code, 'expired')
  })

  it('tolerates small clock skew around the expiry', async () => {
    const base = await input({}, { expiresAt: new Date(ISSUED.getTime() + DAY_MS) })
    const decision = decideRelease({
      ...base,
      clock: { nowMs: ISSUED.getTime() + DAY_MS + 60_000 },
    })
    assert.equal(decision.verdict, 'accept')
  })

  it('on an untrusted clock, uses the newest issue time seen as the floor of now', async () => {
    const base = await input({}, { expiresAt: new Date(ISSUED.getTime() + DAY_MS) })
    // the device thinks it is 1970, but it has already seen a release issued 3 days later
    const history = { newestIssuedAtMs: ISSUED.getTime() + 3 * DAY_MS }
    const decision = decideRelease({ ...base, history, clock: { nowMs: 0, trusted: false } })
    assert.equal(decision.verdict === 'refuse' && decision.code, 'expired')
    assert.match(decision.reason, /clock floor/)

    const fresh = decideRelease({ ...base, history: {}, clock: { nowMs: 0, trusted: false } })
    assert.equal(fresh.verdict, 'accept')
  })

  it('refuses a release issued in the future on a trusted clock', async () => {
    const base = await input()
    const decision = decideRelease({ ...base, clock: { nowMs: ISSUED.getTime() - DAY_MS } })
    assert.equal(decision.verdict === 'refuse' && decision.code, 'issued-in-future')
  })

  it('refuses a release whose trial failed here before', async () => {
    const base = await input()
    const byRelease = decideRelease({
      ...base,
      history: { failedReleaseIds: new Set([base.releaseId]) },
    })
    assert.equal(byRelease.verdict === 'refuse' && byRelease.code, 'failed-before')
    const byRevision = decideRelease({
      ...base,
      history: { failedRevisionIds: new Set([base.release.revision.sha256]) },
    })
    assert.equal(byRevision.verdict === 'refuse' && byRevision.code, 'failed-before')
  })

  it('requires k distinct trusted signatures', async () => {
    const base = await input()
    const second = generateReleaseKey()
    const trustedKeys = [base.signed.key.publicKey, second.publicKey]
    const one = decideRelease({ ...base, trustedKeys, threshold: 2 })
    assert.equal(one.verdict === 'refuse' && one.code, 'not-signed')
    const cosigned = signRelease(base.release, second)
    const two = decideRelease({ ...base, release: cosigned, trustedKeys, threshold: 2 })
    assert.equal(two.verdict, 'accept')
  })

  it('refuses a release that does not fit in free space or the configured limit', async () => {
    const base = await input()
    const full = decideRelease({
      ...base,
      space: { missingBytes: 21_578_551, freeBytes: 1_000_000 },
    })
    assert.equal(full.verdict === 'refuse' && full.code, 'no-space')
    const limited = decideRelease({
      ...base,
      space: { missingBytes: 0, freeBytes: 1e12, maxRevisionBytes: 10_000_000 },
    })
    assert.equal(limited.verdict === 'refuse' && limited.code, 'too-large')
  })

  it('refuses a release whose state is not what it claims', async () => {
    const base = await input()
    const invalid = structuredClone(base.release)
    invalid.revision.state = invalid.revision.state.replace('pantavisor-service-system@1', 'x')
    const resigned = signRelease(invalid, base.signed.key)
    const decision = decideRelease({ ...base, release: resigned })
    assert.equal(decision.verdict === 'refuse' && decision.code, 'invalid-release')
  })
})
