import { InvalidArgumentError } from 'commander'

/** commander argument parser for a positive integer option. */
export function parsePositiveInteger(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got "${text}"`)
  }
  return value
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}
