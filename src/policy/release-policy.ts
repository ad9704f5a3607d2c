import { checkReleaseRevision, checkSignatures, type Release } from '../release/index.js'
import { shortId } from '../util/hex.js'
import { accept, refuse, type ReleaseDecision } from './decision.js'

/** How the clock is judged. */
export interface ClockView {
  /** the device's clock, ms since the epoch */
  nowMs: number
  /**
   * false on a device without a trustworthy clock (no RTC, no NTP): then the
   * newest issue time already seen is the floor of "now" and a release issued
   * in the "future" is not refused.
   * @default true
   */
  trusted?: boolean
  /** tolerance for clocks that disagree a little. @default 300000 (5 minutes) */
  skewToleranceMs?: number
}

/** What the device knows of its own history for the release's fleet. */
export interface FleetHistory {
  /** highest sequence this device accepted for the fleet */
  highestSequence?: number
  /** id of the release that holds that sequence, to tell "already have" from a conflict */
  highestReleaseId?: string
  /** newest issue time (ms) of an accepted release: the clock floor */
  newestIssuedAtMs?: number
  /** releases whose trial failed on this device */
  failedReleaseIds?: ReadonlySet<string>
  /** revisions (state sha256) whose trial failed on this device */
  failedRevisionIds?: ReadonlySet<string>
}

/** What the device has room for. Omit to skip the space checks. */
export interface SpaceView {
  /** bytes the device still has to fetch for this release (objects it lacks) */
  missingBytes: number
  /** bytes free for objects, after the store's reserve */
  freeBytes: number
  /** largest revision (sum of its object sizes) this device accepts; undefined = no limit */
  maxRevisionBytes?: number
}

export interface ReleasePolicyInput {
  release: Release
  releaseId: string
  /** the fleet this device belongs to */
  fleet: string
  /** public keys (`ed25519:…`) trusted to sign releases */
  trustedKeys: readonly string[]
  /** distinct trusted signatures required. @default 1 */
  threshold?: number
  history: FleetHistory
  clock: ClockView
  space?: SpaceView
}

const DEFAULT_SKEW_TOLERANCE_MS = 5 * 60 * 1000

/**
 * Decides whether a device accepts a release. Pure: the caller gathers every
 * fact. Checks run cheapest first, and all of them before a single object byte
 * is fetched, so a bad release costs no bandwidth.
 */
export function decideRelease(input: ReleasePolicyInput): ReleaseDecision {
  const { release, releaseId, history } = input
  const name = `release ${shortId(releaseId)} (fleet ${release.fleet}, sequence ${release.sequence})`

  if (release.fleet !== input.fleet) {
    return refuse('wrong-fleet', `${name}: expected fleet ${input.fleet}`)
  }

  const threshold = input.threshold ?? 1
  const signatures = checkSignatures(release, input.trustedKeys)
  if (signatures.invalid.length > 0) {
    return refuse(
      'bad-signature',
      `${name}: signature by trusted key ${signatures.invalid[0]} does not verify (altered or mis-signed)`,
    )
  }
  if (signatures.trustedValid.length < threshold) {
    return refuse(
      'not-signed',
      `${name}: expected ${threshold} signature(s) by trusted keys, got ${signatures.trustedValid.length}` +
        (signatures.untrusted.length > 0
          ? ` (signed by untrusted ${signatures.untrusted.join(', ')})`
          : ''),
    )
  }

  try {
    checkReleaseRevision(release)
  } catch (err) {
    return refuse('invalid-release', `${name}: ${(err as Error).message}`)
  }

  if (history.failedReleaseIds?.has(releaseId) === true) {
    return refuse('failed-before', `${name}: its trial already failed on this device`)
  }
  if (history.failedRevisionIds?.has(release.revision.sha256) === true) {
    return refuse(
      'failed-before',
      `${name}: revision ${shortId(release.revision.sha256)} already failed its trial on this device`,
    )
  }

  const sequenceDecision = decideSequence(name, releaseId, release.sequence, history)
  if (sequenceDecision !== undefined) return sequenceDecision

  const clockDecision = decideTime(name, release, history, input.clock)
  if (clockDecision !== undefined) return clockDecision

  if (input.space !== undefined) {
    const spaceDecision = decideSpace(name, release, input.space)
    if (spaceDecision !== undefined) return spaceDecision
  }

  return accept(
    `${name}: ${signatures.trustedValid.length} trusted signature(s), newer than sequence ${history.highestSequence ?? 'none'}`,
  )
}

function decideSequence(
  name: string,
  releaseId: string,
  sequence: number,
  history: FleetHistory,
): ReleaseDecision | undefined {
  const highest = history.highestSequence
  if (highest === undefined || sequence > highest) return undefined
  if (sequence === highest) {
    if (history.highestReleaseId === releaseId) {
      return { verdict: 'already-have', reason: `${name}: already accepted` }
    }
    return refuse(
      'sequence-conflict',
      `${name}: sequence ${sequence} is already held by another release ${shortId(history.highestReleaseId ?? '?')}`,
    )
  }
  return refuse('stale-sequence', `${name}: expected a sequence above ${highest} (anti-rollback)`)
}

function decideTime(
  name: string,
  release: Release,
  history: FleetHistory,
  clock: ClockView,
): ReleaseDecision | undefined {
  const trusted = clock.trusted ?? true
  const skewMs = clock.skewToleranceMs ?? DEFAULT_SKEW_TOLERANCE_MS
  const nowMs = trusted ? clock.nowMs : Math.max(clock.nowMs, history.newestIssuedAtMs ?? 0)
  const issuedMs = Date.parse(release.issuedAt)

  if (trusted && issuedMs > nowMs + skewMs) {
    return refuse(
      'issued-in-future',
      `${name}: issued at ${release.issuedAt}, more than ${skewMs / 1000}s after this device's clock ${new Date(nowMs).toISOString()}`,
    )
  }
  if (release.expiresAt !== undefined) {
    const expiresMs = Date.parse(release.expiresAt)
    if (nowMs > expiresMs + skewMs) {
      return refuse(
        'expired',
        `${name}: expired at ${release.expiresAt}; now is ${new Date(nowMs).toISOString()}` +
          (trusted ? '' : ' (clock floor: newest issue time seen)'),
      )
    }
  }
  return undefined
}

function decideSpace(
  name: string,
  release: Release,
  space: SpaceView,
): ReleaseDecision | undefined {
  const total = release.objects.reduce((sum, object) => sum + object.size, 0)
  if (space.maxRevisionBytes !== undefined && total > space.maxRevisionBytes) {
    return refuse(
      'too-large',
      `${name}: revision is ${total} bytes, above the configured limit of ${space.maxRevisionBytes}`,
    )
  }
  if (space.missingBytes > space.freeBytes) {
    return refuse(
      'no-space',
      `${name}: needs ${space.missingBytes} more bytes, only ${space.freeBytes} free`,
    )
  }
  return undefined
}
