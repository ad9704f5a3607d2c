import { readdirSync, readFileSync } from 'node:fs'
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'

/**
 * CPU-seconds of this process split by kind of thread, read from /proc/self/task: the event
 * loop ("MainThread"), libuv's pool ("libuv-worker": file I/O, webcrypto hashing) and V8's
 * helpers ("V8Worker": garbage collection, compilation). The split tells whether the event loop
 * or the pool set the pace. Empty where /proc is not there.
 */
export type ThreadCpu = Map<string, number>

/** The unit of /proc stat times (`getconf CLK_TCK`): 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100

export function threadCpu(): ThreadCpu {
  const byKind: ThreadCpu = new Map()
  let tasks: string[]
  try {
    tasks = readdirSync('/proc/self/task')
  } catch {
    return byKind
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8')
      const open = stat.indexOf('(')
      const close = stat.lastIndexOf(')')
      const kind = stat.slice(open + 1, close)
      // after the name: state(3) … utime(14) stime(15), i.e. fields 11 and 12 from here
      const fields = stat.slice(close + 2).split(' ')
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
      if (Number.isFinite(seconds)) byKind.set(kind, (byKind.get(kind) ?? 0) + seconds)
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byKind
}

/** CPU-seconds per kind of thread used since `from`. */
export function threadCpuSince(from: ThreadCpu): ThreadCpu {
  const used: ThreadCpu = new Map()
  for (const [kind, seconds] of threadCpu()) {
    used.set(kind, seconds - (from.get(kind) ?? 0))
  }
  return used
}

/** "event loop 2.10, pool 0.80, V8 0.30" */
export function formatThreadCpu(used: ThreadCpu): string {
  const names: Array<[string, string]> = [
    ['MainThread', 'event loop'],
    ['libuv-worker', 'pool'],
    ['V8Worker', 'V8 helpers'],
  ]
  const known = new Set(names.map(([kind]) => kind))
  let other = 0
  for (const [kind, seconds] of used) if (!known.has(kind)) other += seconds
  return [
    ...names.map(([kind, label]) => `${label} ${(used.get(kind) ?? 0).toFixed(2)}`),
    `other ${other.toFixed(2)}`,
  ].join(', ')
}

/**
 * Counts the full (mark-compact) garbage collections of this process. Each one marks the whole
 * heap on V8's helper threads; V8 starts one whenever external memory (Buffers) has grown by
 * some tens of MiB since the last, so their number tells how much buffer memory a leg churned.
 */
export class MajorGcCounter {
  #count = 0
  readonly #observer: PerformanceObserver

  constructor() {
    this.#observer = new PerformanceObserver(list => {
      for (const entry of list.getEntries()) {
        const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail
        if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.#count++
      }
    })
    this.#observer.observe({ entryTypes: ['gc'] })
  }

  get count(): number {
    return this.#count
  }

  stop(): void {
    this.#observer.disconnect()
  }
}
