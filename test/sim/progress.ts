import { basename } from 'node:path'
import type { Fleet } from './fleet.js'
import { coreCount } from './cpu.js'
import type { DeviceSequenceState } from './sequence-tracker.js'
import { formatBytes } from './summary.js'

/** Options of the live view. */
export interface ProgressViewOptions {
  /** @default process.stdout */
  out?: NodeJS.WriteStream
  /** redraw in place (a terminal) or print a line per change of phase. @default out.isTTY */
  redraw?: boolean
  /** redraws at most this often. @default 200 */
  intervalMs?: number
  /** width of each bar in characters. @default 28 */
  barChars?: number
}

/**
 * Live progress of a floor: a header (sequence, revision, elapsed time, CPU)
 * and one line per device with a bar. In a terminal the block is redrawn in
 * place; elsewhere (a CI log) each device's changes of phase are printed
 * once, so the log stays readable.
 *
 * Plain ANSI redraws: no progress-bar library is installed in the project.
 */
export class ProgressView {
  readonly #out: NodeJS.WriteStream
  readonly #redraw: boolean
  readonly #intervalMs: number
  readonly #barChars: number
  #fleet: Fleet | undefined
  #header = ''
  #linesDrawn = 0
  #timer: NodeJS.Timeout | undefined
  #lastPhase = new Map<string, string>()
  #cpuMark: { atMs: number; seconds: number } | undefined
  #coresNow = 0

  constructor(options: ProgressViewOptions = {}) {
    this.#out = options.out ?? process.stdout
    this.#redraw = options.redraw ?? this.#out.isTTY === true
    this.#intervalMs = options.intervalMs ?? 200
    this.#barChars = options.barChars ?? 28
  }

  attach(fleet: Fleet): void {
    this.#fleet = fleet
    fleet.on('sequence', e => {
      this.#freeze()
      this.#lastPhase.clear()
      this.#header =
        `sequence ${e.sequence}: ${basename(e.revisionPath)} (${formatBytes(e.revisionBytes)}), ` +
        `release ${e.releaseId.slice(0, 12)}… to ${fleet.devices.length} devices`
      if (!this.#redraw) this.#out.write(this.#header + '\n')
    })
    fleet.on('change', () => {
      if (this.#redraw) this.#schedule()
      else this.#printChanges()
    })
    if (this.#redraw) this.#timer = setInterval(() => this.#draw(), 1000).unref()
  }

  /** Prints a line above the live block. */
  say(line: string): void {
    this.#clear()
    this.#out.write(line + '\n')
    this.#linesDrawn = 0
    if (this.#redraw) this.#draw()
  }

  /** Draws the final state once more and stops redrawing. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    if (this.#redraw) this.#draw()
    this.#linesDrawn = 0
  }

  /** Keeps the finished block on screen: the next draw starts below it. */
  #freeze(): void {
    if (this.#redraw && this.#linesDrawn > 0) this.#draw()
    this.#linesDrawn = 0
  }

  #pending: NodeJS.Timeout | undefined
  #schedule(): void {
    this.#pending ??= setTimeout(() => {
      this.#pending = undefined
      this.#draw()
    }, this.#intervalMs)
  }

  #clear(): void {
    if (!this.#redraw || this.#linesDrawn === 0) return
    this.#out.write(`\x1b[${this.#linesDrawn}A\x1b[0J`)
  }

  #draw(): void {
    const fleet = this.#fleet
    if (fleet === undefined || this.#header === '') return
    const lines = [
      `${this.#header}  ${fleet.elapsedSeconds().toFixed(1)} s  CPU ${this.#cores(fleet)}`,
      ...fleet.states().map(state => this.#deviceLine(state)),
    ]
    const width = Math.max(40, (this.#out.columns ?? 120) - 1)
    this.#clear()
    this.#out.write(lines.map(line => line.slice(0, width)).join('\n') + '\n')
    this.#linesDrawn = lines.length
  }

  #cores(fleet: Fleet): string {
    const cpu = fleet.cpu()
    const seconds = cpu.simulatorSeconds + (cpu.deviceSeconds ?? []).reduce((a, b) => a + b, 0)
    const now = performance.now()
    if (this.#cpuMark !== undefined && now - this.#cpuMark.atMs >= 500) {
      this.#coresNow = (seconds - this.#cpuMark.seconds) / ((now - this.#cpuMark.atMs) / 1000)
      this.#cpuMark = { atMs: now, seconds }
    }
    this.#cpuMark ??= { atMs: now, seconds }
    return `${this.#coresNow.toFixed(1)}/${coreCount()} cores`
  }

  #deviceLine(state: DeviceSequenceState): string {
    const fraction = state.bytesTotal > 0 ? Math.min(1, state.bytesDone / state.bytesTotal) : 0
    const filled = Math.round(fraction * this.#barChars)
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(this.#barChars - filled)}]`
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
    const bytes = `${formatBytes(state.bytesDone)}/${formatBytes(state.bytesTotal)}`.padEnd(21)
    return `${state.name} ${state.seed ? 'seed' : '    '} ${bar} ${percent} ${bytes} ${describe(state)}`
  }

  #printChanges(): void {
    for (const state of this.#fleet?.states() ?? []) {
      const phase = describe(state)
      if (this.#lastPhase.get(state.name) === phase) continue
      this.#lastPhase.set(state.name, phase)
      if (state.phase === 'downloading') continue
      this.#out.write(`  ${state.name}${state.seed ? ' (seed)' : ''}: ${phase}\n`)
    }
  }
}

function describe(state: DeviceSequenceState): string {
  switch (state.phase) {
    case 'settled':
      return `${state.outcome} in ${state.outcomeSeconds?.toFixed(1)} s`
    case 'complete':
      return `complete in ${state.downloadSeconds?.toFixed(1)} s, handing over`
    case 'trial':
      return `trial ${state.trialStatus ?? ''}`
    case 'failed':
    case 'lost':
      return `${state.phase}: ${state.error?.split('\n')[0] ?? ''}`
    default:
      return state.phase
  }
}
