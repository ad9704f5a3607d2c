import type { Download, FloorEntry } from '../exchange/index.js'
import type { Handover, HandoverOutcome, HandoverRecord } from '../pantavisor/index.js'
import { chunkCount } from '../release/index.js'
import type { Device } from './device.js'
import type { FloorView } from './floor.js'

export interface FloorReporterInit {
  device: Device
  handover: Handover | undefined
  view: FloorView
  /** hostname or `--name` */
  name: string
  fleet: string
  /** called when this device's own entry changed (push it) */
  onChange(): void
  /** Re-stamps the own entry this often even when nothing changed, so peers keep it. @default 20000 */
  refreshMs?: number
}

/**
 * Keeps this device's own floor entry up to date from its events: releases accepted, download
 * progress, hand-over phases and trial outcomes.
 */
export class FloorReporter {
  readonly #init: FloorReporterInit
  readonly #timer: NodeJS.Timeout
  #handoverPhase: string | null = null
  #trial: FloorEntry['trial'] = null
  readonly #unhook: Array<() => void> = []

  constructor(init: FloorReporterInit) {
    this.#init = init
    const { device, handover } = init
    const update = (): void => this.update()
    const onStarted = ({ download }: { download: Download }): void => {
      download.on('progress', update)
      update()
    }
    const onSettled = ({ outcome }: { outcome: HandoverOutcome }): void => this.#outcome(outcome)
    for (const event of ['release:accepted', 'download:complete', 'download:failed'] as const) {
      device.on(event, update)
      this.#unhook.push(() => device.off(event, update))
    }
    device.on('download:started', onStarted)
    device.on('release:settled', onSettled)
    this.#unhook.push(() => device.off('download:started', onStarted))
    this.#unhook.push(() => device.off('release:settled', onSettled))
    if (handover !== undefined) {
      const onPhase = (record: HandoverRecord): void => {
        this.#handoverPhase = record.phase
        update()
      }
      handover.on('phase', onPhase)
      this.#unhook.push(() => handover.off('phase', onPhase))
      void handover
        .status()
        .then(record => {
          if (record === undefined || this.#handoverPhase !== null) return
          this.#handoverPhase = record.phase
          update()
        })
        .catch(() => {})
    }
    this.#timer = setInterval(() => {
      if (this.#init.view.setSelf(this.#entry(), true)) this.#init.onChange()
    }, init.refreshMs ?? 20_000)
    this.#timer.unref?.()
    update()
  }

  /** Rebuilds the own entry; pushes it when something other than the time changed. */
  update(): void {
    if (this.#init.view.setSelf(this.#entry())) this.#init.onChange()
  }

  stop(): void {
    clearInterval(this.#timer)
    for (const unhook of this.#unhook.splice(0)) unhook()
  }

  #outcome(outcome: HandoverOutcome): void {
    this.#trial = { releaseId: outcome.releaseId, result: outcome.result, status: outcome.status }
    this.update()
  }

  #entry(): Omit<FloorEntry, 'peer' | 'updatedAtMs'> {
    const { device, fleet, name } = this.#init
    const releases = device.status().filter(release => release.fleet === fleet)
    const bySequence = (a: { sequence: number }, b: { sequence: number }): number =>
      b.sequence - a.sequence
    const installed = releases.filter(release => release.phase === 'installed').sort(bySequence)[0]
    const newest = releases.sort(bySequence)[0]
    let progress: FloorEntry['newest'] = null
    if (newest !== undefined) {
      const release = device.releases.get(newest.id)
      const stats = device.download(newest.id)?.stats()
      const chunksTotal =
        release?.objects.reduce((n, o) => n + chunkCount(o.size, release.chunkBytes), 0) ?? 0
      const bytesTotal = release?.objects.reduce((n, o) => n + o.size, 0) ?? 0
      const finished = newest.phase !== 'downloading'
      progress = {
        releaseId: newest.id,
        sequence: newest.sequence,
        phase: newest.phase,
        seeded: newest.seeded,
        chunksDone: stats?.chunksDone ?? (finished ? chunksTotal : 0),
        chunksTotal: stats?.chunksTotal ?? chunksTotal,
        bytesDone: stats?.bytesDone ?? (finished ? bytesTotal : 0),
        bytesTotal: stats?.bytesTotal ?? bytesTotal,
      }
    }
    return {
      name,
      fleet,
      installed:
        installed === undefined ? null : { releaseId: installed.id, sequence: installed.sequence },
      newest: progress,
      handover: this.#handoverPhase,
      trial: this.#trial ?? settledBefore(newest),
    }
  }
}

/** After a restart the outcome event is gone, but the release book still knows how it ended. */
function settledBefore(newest: { id: string; phase: string } | undefined): FloorEntry['trial'] {
  if (newest === undefined || (newest.phase !== 'installed' && newest.phase !== 'failed')) {
    return null
  }
  return { releaseId: newest.id, result: newest.phase, status: '' }
}
