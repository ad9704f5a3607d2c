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

/** `1536` → `1.50 KiB`, for human-readable summaries. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}
