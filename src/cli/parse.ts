import { InvalidArgumentError } from 'commander'
import { decodePublicKey } from '../release/index.js'

/** commander argument parser for a positive integer option. */
export function parsePositiveInteger(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got "${text}"`)
  }
  return value
}

/**
 * Collects a repeatable option's values. It has no default on purpose: commander counts a default
 * as given, so a `requiredOption` with `[]` as default would never be reported missing.
 */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** commander argument parser for an `ed25519:…` release public key, checked at once. */
export function parsePublicKey(text: string): string {
  try {
    decodePublicKey(text)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
  return text.trim()
}
