import { InvalidArgumentError } from 'commander'

export const MIB = 1024 * 1024

/** Middle value (mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** CPU-seconds (user + system, every thread of this process) since `from`. */
export function cpuSecondsSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from)
  return (used.user + used.system) / 1e6
}

/** Rounds for the result line: figures, not noise. */
export function round(value: number, digits = 1): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/** Option parser of whole counts (`--mib`, `--runs`): a clear message for anything else. */
export function positiveInteger(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a whole number ≥ 1, got "${text}"`)
  }
  return value
}

/**
 * `promise`, or a rejection naming `what` once `ms` have passed: a benchmark whose transfer
 * stalls must fail, not hang.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms / 1000} s`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** How long one transfer may take before a benchmark gives up on it. */
export const TRANSFER_DEADLINE_MS = 10 * 60_000
