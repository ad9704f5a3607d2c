/** Why a release was refused: stable codes that logs, metrics and tests match on. */
export type RefusalCode =
  | 'wrong-fleet'
  | 'not-signed'
  | 'bad-signature'
  | 'invalid-release'
  | 'failed-before'
  | 'stale-sequence'
  | 'sequence-conflict'
  | 'expired'
  | 'issued-in-future'
  | 'too-large'
  | 'no-space'

/** Every policy answer says what was decided and why, in words an operator can act on. */
export type ReleaseDecision =
  | { verdict: 'accept'; reason: string }
  | { verdict: 'already-have'; reason: string }
  | { verdict: 'refuse'; code: RefusalCode; reason: string }

export function accept(reason: string): ReleaseDecision {
  return { verdict: 'accept', reason }
}

export function refuse(code: RefusalCode, reason: string): ReleaseDecision {
  return { verdict: 'refuse', code, reason }
}
