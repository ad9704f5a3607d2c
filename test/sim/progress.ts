import { basename } from 'node:path'
import cliProgress from 'cli-progress'
import { coreCount } from './cpu.js'
import type { Fleet } from './fleet.js'
import type { DeviceSequenceState } from './sequence-tracker.js'
import { formatBytes } from './summary.js'

/** Options of the live view. */
export interface ProgressViewOptions {
  /** @default process.stdout */
  out?: NodeJS.WriteStream
  /** bars redrawn in place (a terminal), or a line per change of phase. @default out.isTTY */
  redraw?: boolean
  /** width of each bar in characters. @default 20 */
  barChars?: number
}

/** What each line of the multi-bar shows: the header, or one device (once it reported). */
type LinePayload =
  { kind: 'header'; text: string } | { kind: 'device'; state: DeviceSequenceState | undefined }

/**
 * Live progress of a floor: a header (sequence, revision, elapsed time, CPU)
 * and one bar per device, redrawn in place by cli-progress in a terminal.
 * Elsewhere (a CI log) each device's changes of phase are printed once, so
 * the log stays readable.
 */
export class ProgressView {
  readonly #out: NodeJS.WriteStream
  readonly #redraw: boolean
  readonly #barChars: number
  #fleet: Fleet | undefined
  #header = ''
  #bars: cliProgress.MultiBar | undefined
  #headerBar: cliProgress.SingleBar | undefined
  #deviceBars: cliProgress.SingleBar[] = []
  #ticker: NodeJS.Timeout | undefined
  #lastPhase = new Map<string, string>()
  #cpuMark: { atMs: number; seconds: number } | undefined
  #coresNow = 0

  constructor(options: ProgressViewOptions = {}) {
    this.#out = options.out ?? process.stdout
    this.#redraw = options.redraw ?? this.#out.isTTY === true
    this.#barChars = options.barChars ?? 20
  }

  attach(fleet: Fleet): void {
    this.#fleet = fleet
    fleet.on('sequence', e => {
      // short enough for an 80-column terminal once the clock and CPU are added
      this.#header =
        `sequence ${e.sequence}: ${basename(e.revisionPath)} ` +
        `(${formatBytes(e.revisionBytes)}), ${fleet.devices.length} devices`
      this.#lastPhase.clear()
      if (this.#redraw) this.#newBars(fleet.devices.length)
      else this.#out.write(this.#header + '\n')
    })
    fleet.on('change', () => (this.#redraw ? this.#update() : this.#printChanges()))
  }

  /** Prints a line above the live bars. */
  say(line: string): void {
    if (this.#bars?.isActive === true) this.#bars.log(line + '\n')
    else this.#out.write(line + '\n')
  }

  /** Draws the final state once more and leaves it on screen. */
  stop(): void {
    this.#update()
    this.#stopBars()
  }

  #newBars(devices: number): void {
    this.#stopBars()
    const bars = new cliProgress.MultiBar({
      stream: this.#out,
      format: (options, params, payload: LinePayload) => this.#line(options, params, payload),
      barsize: this.#barChars,
      barCompleteChar: '#',
      barIncompleteChar: '.',
      hideCursor: true,
      clearOnComplete: false,
      emptyOnZero: true,
      fps: 5,
    })
    this.#bars = bars
    this.#headerBar = bars.create(1, 0, { kind: 'header', text: this.#header })
    this.#deviceBars = Array.from({ length: devices }, () =>
      bars.create(0, 0, { kind: 'device', state: undefined }),
    )
    // the header's clock and CPU figure move even when no device reports anything
    this.#ticker = setInterval(() => this.#update(), 1000)
    this.#ticker.unref()
  }

  #stopBars(): void {
    if (this.#ticker !== undefined) clearInterval(this.#ticker)
    this.#ticker = undefined
    this.#bars?.stop()
    this.#bars = undefined
  }

  #update(): void {
    const fleet = this.#fleet
    if (fleet === undefined || this.#bars === undefined) return
    this.#headerBar?.update(0, {
      text: `${this.#header}  ${fleet.elapsedSeconds().toFixed(1)} s  CPU ${this.#cores(fleet)}`,
    })
    fleet.states().forEach((state, index) => {
      const bar = this.#deviceBars[index]
      if (bar === undefined) return
      bar.setTotal(state.bytesTotal)
      bar.update(state.bytesDone, { state })
    })
  }

  #line(options: cliProgress.Options, params: cliProgress.Params, payload: LinePayload): string {
    if (payload.kind === 'header') return payload.text
    const { state } = payload
    if (state === undefined) return ''
    const bar = cliProgress.Format.BarFormat(params.progress, options)
    const percent = `${Math.floor(params.progress * 100)}%`.padStart(4)
    const bytes = `${formatBytes(state.bytesDone)}/${formatBytes(state.bytesTotal)}`.padEnd(19)
    return `${state.name} ${state.seed ? 'seed' : '    '} [${bar}] ${percent} ${bytes} ${describe(state)}`
  }

  /** Cores kept busy over the last half second or more. */
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

  #printChanges(): void {
    for (const state of this.#fleet?.states() ?? []) {
      const phase = describe(state)
      if (this.#lastPhase.get(state.name) === phase) continue
      this.#lastPhase.set(state.name, phase)
      if (state.phase === 'waiting' || state.phase === 'downloading') continue
      this.#out.write(`  ${state.name}${state.seed ? ' (seed)' : ''}: ${phase}\n`)
    }
  }
}

function describe(state: DeviceSequenceState): string {
  switch (state.phase) {
    case 'settled':
      return `${state.outcome} in ${state.outcomeSeconds?.toFixed(1)} s`
    case 'complete':
      return `handing over (${state.downloadSeconds?.toFixed(1)} s)`
    case 'trial':
      return `trial ${state.trialStatus ?? ''}`
    case 'failed':
    case 'lost':
      return `${state.phase}: ${state.error?.split('\n')[0] ?? ''}`
    default:
      return state.phase
  }
}
