import { oneLine } from './errors.js'

/** Prints data as one JSON document on stdout (for `--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Prints lines of human-readable text on stdout. */
export function printLines(...lines: string[]): void {
  process.stdout.write(lines.join('\n') + '\n')
}

/** A warning on stderr, prefixed so it is never mistaken for data. */
export function warn(message: string): void {
  process.stderr.write(`pvswarm: warning: ${oneLine(message)}\n`)
}

export { formatBytes } from '../util/format.js'
