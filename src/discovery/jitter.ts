/**
 * Randomised timing, so that a floor of devices powered on together does not
 * act in lockstep. `random` is injectable for tests; it must return [0, 1).
 */
export type Random = () => number

/** A delay drawn uniformly from `baseMs x [1 - jitter, 1 + jitter]`. */
export function jitteredMs(baseMs: number, jitter: number, random: Random = Math.random): number {
  return Math.round(baseMs * (1 - jitter + 2 * jitter * random()))
}

/** A delay drawn uniformly from `[0, maxMs]`. */
export function randomDelayMs(maxMs: number, random: Random = Math.random): number {
  return Math.round(maxMs * random())
}

export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number
  /** Ceiling the delay grows to. */
  maxMs: number
  /** Growth per failed attempt. @default 2 */
  factor?: number
  /** Spread applied to each delay (see jitteredMs). @default 0.2 */
  jitter?: number
}

/**
 * Delay before retry number `attempt` (0 for the first retry): exponential,
 * capped, jittered so that many devices retrying one lost peer spread out.
 */
export function backoffMs(
  attempt: number,
  options: BackoffOptions,
  random: Random = Math.random,
): number {
  const factor = options.factor ?? 2
  const raw = Math.min(options.maxMs, options.initialMs * factor ** Math.max(0, attempt))
  return Math.min(options.maxMs, jitteredMs(raw, options.jitter ?? 0.2, random))
}
