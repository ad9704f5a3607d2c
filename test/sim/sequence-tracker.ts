import type { SimDeviceHandle, SimDownloadResult } from './sim-device.js'

/** A final trial status (docs/pantavisor.md). */
export type TrialOutcome = 'DONE' | 'UPDATED' | 'ERROR' | 'WONTGO'

/** Where one device stands with one release. */
export type DevicePhase =
  'waiting' | 'accepted' | 'downloading' | 'complete' | 'trial' | 'settled' | 'failed' | 'lost'

/** One device's part in one sequence, live while it runs. */
export interface DeviceSequenceState {
  name: string
  seed: boolean
  phase: DevicePhase
  bytesDone: number
  bytesTotal: number
  /** last trial status seen (INPROGRESS, TESTING, then the outcome) */
  trialStatus: string | undefined
  outcome: TrialOutcome | null
  statusMsg: string | undefined
  /** from the release being on the floor to the download being complete */
  downloadSeconds: number | null
  /** from the release being on the floor to the trial's outcome */
  outcomeSeconds: number | null
  download: SimDownloadResult | undefined
  /** why the device did not finish (download failed, process lost) */
  error: string | undefined
}

const OUTCOMES = new Set<string>(['DONE', 'UPDATED', 'ERROR', 'WONTGO'])

/**
 * Follows every device through one release: accepted, downloading, complete,
 * trial, outcome. `settled` resolves once every device has an outcome, a
 * failed download or a lost process. Times count from `floorReady()`, the
 * moment the seed holds the release (its import is not the floor's time).
 */
export class SequenceTracker {
  readonly releaseId: string
  readonly states: DeviceSequenceState[]
  readonly #devices: readonly SimDeviceHandle[]
  readonly #onChange: () => void
  readonly #unsubscribe: Array<() => void> = []
  readonly #settled = Promise.withResolvers<void>()
  #readyAtMs: number
  #endedAtMs: number | undefined

  constructor(
    releaseId: string,
    devices: readonly SimDeviceHandle[],
    seedIndex: number,
    onChange: () => void,
  ) {
    this.releaseId = releaseId
    this.#devices = devices
    this.#onChange = onChange
    this.#readyAtMs = performance.now()
    this.states = devices.map((device, index) => ({
      name: device.name,
      seed: index === seedIndex,
      phase: 'waiting',
      bytesDone: 0,
      bytesTotal: 0,
      trialStatus: undefined,
      outcome: null,
      statusMsg: undefined,
      downloadSeconds: null,
      outcomeSeconds: null,
      download: undefined,
      error: undefined,
    }))
    devices.forEach((device, index) => this.#follow(device, this.states[index]!))
  }

  /** The seed holds the release: device times count from now. */
  floorReady(): void {
    this.#readyAtMs = performance.now()
  }

  /** Resolves when every device has settled one way or another. */
  get settled(): Promise<void> {
    return this.#settled.promise
  }

  /** Seconds since the release was on the floor, until every device settled or dispose(). */
  elapsedSeconds(): number {
    return ((this.#endedAtMs ?? performance.now()) - this.#readyAtMs) / 1000
  }

  /** Marks a device that will not get further (e.g. the seed could not import). */
  fail(index: number, message: string): void {
    const state = this.states[index]
    if (state === undefined || isSettled(state)) return
    state.phase = 'failed'
    state.error = message
    this.#changed()
  }

  /** Stops listening; devices not settled keep outcome null. */
  dispose(): void {
    this.#endedAtMs ??= performance.now()
    for (const off of this.#unsubscribe.splice(0)) off()
  }

  #follow(device: SimDeviceHandle, state: DeviceSequenceState): void {
    const mine = (e: { releaseId: string }): boolean => e.releaseId === this.releaseId
    const on = <K extends Parameters<SimDeviceHandle['on']>[0]>(
      event: K,
      listener: (...args: any[]) => void,
    ): void => {
      device.on(event, listener as never)
      this.#unsubscribe.push(() => device.off(event, listener as never))
    }

    on('accepted', (e: { releaseId: string }) => {
      if (!mine(e) || state.phase !== 'waiting') return
      state.phase = 'accepted'
      this.#changed()
    })
    on('progress', (e: { releaseId: string; bytesDone: number; bytesTotal: number }) => {
      if (!mine(e) || isSettled(state) || state.phase === 'complete' || state.phase === 'trial') {
        return
      }
      state.phase = 'downloading'
      state.bytesDone = e.bytesDone
      state.bytesTotal = e.bytesTotal
      this.#changed()
    })
    on('complete', (e: SimDownloadResult) => {
      if (!mine(e) || isSettled(state)) return
      state.phase = 'complete'
      state.download = e
      state.bytesTotal = Math.max(state.bytesTotal, e.bytesTotal)
      state.bytesDone = state.bytesTotal
      state.downloadSeconds = this.elapsedSeconds()
      this.#changed()
    })
    on('trial', (e: { releaseId: string; status: string; statusMsg: string; final: boolean }) => {
      if (!mine(e) || isSettled(state)) return
      state.trialStatus = e.status
      if (e.final && OUTCOMES.has(e.status)) {
        state.phase = 'settled'
        state.outcome = e.status as TrialOutcome
        state.statusMsg = e.statusMsg
        state.outcomeSeconds = this.elapsedSeconds()
      } else {
        state.phase = 'trial'
      }
      this.#changed()
    })
    on('failed', (e: { releaseId: string; message: string }) => {
      if (!mine(e) || isSettled(state)) return
      state.phase = 'failed'
      state.error = e.message
      this.#changed()
    })
    on('lost', (e: { message: string }) => {
      if (isSettled(state)) return
      state.phase = 'lost'
      state.error = e.message
      this.#changed()
    })
  }

  #changed(): void {
    this.#onChange()
    if (this.#endedAtMs === undefined && this.states.every(isSettled)) {
      this.#endedAtMs = performance.now()
      this.#settled.resolve()
    }
  }
}

export function isSettled(state: DeviceSequenceState): boolean {
  return state.phase === 'settled' || state.phase === 'failed' || state.phase === 'lost'
}
