import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'

/**
 * CPU use, so every figure the simulator prints comes with the evidence of
 * whether the CPU rather than the links set the pace: CPU-seconds of this
 * process, of each child (from /proc, readable while the child is hung), and
 * how busy the whole machine was.
 */

let clockTicksPerSecond: number | undefined

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/<pid>/stat. */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }))
    } catch {
      clockTicksPerSecond = Number.NaN
    }
    // 100 is what every Linux architecture the project runs on uses
    if (!Number.isFinite(clockTicksPerSecond) || clockTicksPerSecond <= 0) clockTicksPerSecond = 100
  }
  return clockTicksPerSecond
}

/** User + system CPU-seconds this process has used since it started. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/**
 * User + system CPU-seconds of another process, or undefined once it is gone.
 * The command name in /proc/<pid>/stat may hold spaces and parentheses: the
 * fields are counted from the last `)`.
 */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // after the name: state(3) … utime(14) stime(15), so 11 and 12 from here
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return (utime + stime) / ticksPerSecond()
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
export interface MachineCpuSample {
  busyTicks: number
  totalTicks: number
}

export function sampleMachineCpu(): MachineCpuSample | undefined {
  let line: string | undefined
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
  } catch {
    return undefined
  }
  if (line === undefined || !line.startsWith('cpu ')) return undefined
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const idle = (values[3] ?? 0) + (values[4] ?? 0)
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0)
  return { busyTicks: total - idle, totalTicks: total }
}

/** Share of all cores that was busy between two samples (0…1). */
export function machineBusyFraction(
  from: MachineCpuSample | undefined,
  to: MachineCpuSample | undefined,
): number | undefined {
  if (from === undefined || to === undefined) return undefined
  const total = to.totalTicks - from.totalTicks
  return total > 0 ? (to.busyTicks - from.busyTicks) / total : undefined
}

/** Cores of this machine. */
export function coreCount(): number {
  return Math.max(1, cpus().length)
}

/**
 * Follows the CPU-seconds of child processes: sampled on demand, the last
 * value seen is kept, so a child that exits before the run ends still counts
 * with what it used up to its last sample.
 */
export class ChildCpuTracker {
  readonly #lastSeconds = new Map<number, number>()

  track(pid: number): void {
    if (!this.#lastSeconds.has(pid)) this.#lastSeconds.set(pid, 0)
  }

  sample(): void {
    for (const pid of this.#lastSeconds.keys()) {
      const seconds = processCpuSeconds(pid)
      if (seconds !== undefined) this.#lastSeconds.set(pid, seconds)
    }
  }

  seconds(pid: number): number {
    return this.#lastSeconds.get(pid) ?? 0
  }

  totalSeconds(): number {
    let sum = 0
    for (const seconds of this.#lastSeconds.values()) sum += seconds
    return sum
  }
}
