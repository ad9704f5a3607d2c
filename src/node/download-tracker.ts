import type { Download, DownloadStats } from '../exchange/index.js'
import { chunkCount, chunkLength, type Release } from '../release/index.js'
import type { Device } from './device.js'

/** One object of a download in progress. */
export interface ObjectProgress {
  sha256: string
  sizeBytes: number
  chunksDone: number
  chunksTotal: number
}

/** A download in progress as `GET /status` shows it. */
export interface DownloadView {
  releaseId: string
  chunksDone: number
  chunksTotal: number
  bytesDone: number
  bytesTotal: number
  /** over the last few seconds, or since the last step of progress when steps are further apart */
  rateBytesPerSecond: number
  /** undefined while nothing moves */
  etaSeconds: number | undefined
  /** peers that delivered a verified chunk in the last few seconds */
  peersServing: number
  /** verified bytes received from each peer during this download */
  peers: Array<{ peer: string; bytes: number }>
  objects: ObjectProgress[]
  bans: DownloadStats['bans']
}

/** Rate and "serving" look at this much of the recent past, at least. */
const WINDOW_MS = 5_000

/**
 * …and further back when progress comes in steps further apart, as under an upload cap (a 1 MiB
 * chunk every 50 s at 20 kB/s), so the rate is not 0 between steps. Samples older than this go.
 */
const LONGEST_WINDOW_MS = 120_000

/** A fast download reports progress many times a second: samples closer than this are merged. */
const SAMPLE_SPACING_MS = 250

/** Bytes done at a moment. */
export interface ProgressSample {
  atMs: number
  bytesDone: number
}

/**
 * Bytes per second, and since when it is measured: from the newest sample at least WINDOW_MS
 * old (the oldest, when none is yet), or, when nothing arrived since that one, from the newest
 * before it that had fewer bytes, so the span covers at least one step of progress. 0 while
 * nothing has arrived in the samples kept.
 */
export function recentRate(
  samples: readonly ProgressSample[],
  bytesNow: number,
  nowMs: number,
): { bytesPerSecond: number; sinceMs: number } {
  let from: ProgressSample | undefined
  for (let i = samples.length - 1; i >= 0; i--) {
    const sample = samples[i]!
    if (nowMs - sample.atMs < WINDOW_MS && i > 0) continue
    from = sample
    if (sample.bytesDone < bytesNow) break
  }
  const spanMs = from === undefined ? 0 : nowMs - from.atMs
  if (from === undefined || from.bytesDone >= bytesNow || spanMs < SAMPLE_SPACING_MS) {
    return { bytesPerSecond: 0, sinceMs: nowMs - WINDOW_MS }
  }
  return { bytesPerSecond: ((bytesNow - from.bytesDone) * 1000) / spanMs, sinceMs: from.atMs }
}

interface Tracked {
  download: Download
  release: Release
  /** per object: chunk indices held (from the store at start, then as stored) */
  held: Array<Set<number>>
  samples: ProgressSample[]
  bytesByPeer: Map<string, number>
  lastChunkAtMs: Map<string, number>
}

/**
 * Follows a device's downloads for the operator: per-object progress, rate, ETA and the
 * peers serving. Read-only; it changes nothing in the download.
 */
export class DownloadTracker {
  readonly #tracked = new Map<string, Tracked>()
  readonly #device: Device

  constructor(device: Device) {
    this.#device = device
    device.on('download:started', this.#onStarted)
    device.on('download:complete', this.#onEnded)
    device.on('download:failed', this.#onEnded)
  }

  detach(): void {
    this.#device.off('download:started', this.#onStarted)
    this.#device.off('download:complete', this.#onEnded)
    this.#device.off('download:failed', this.#onEnded)
    this.#tracked.clear()
  }

  /** The download of a release in progress, or undefined. */
  view(releaseId: string, nowMs = Date.now()): DownloadView | undefined {
    const tracked = this.#tracked.get(releaseId)
    if (tracked === undefined) return undefined
    const stats = tracked.download.stats()
    const { bytesPerSecond: rate, sinceMs } = recentRate(tracked.samples, stats.bytesDone, nowMs)
    const remaining = stats.bytesTotal - stats.bytesDone
    return {
      releaseId,
      chunksDone: stats.chunksDone,
      chunksTotal: stats.chunksTotal,
      bytesDone: stats.bytesDone,
      bytesTotal: stats.bytesTotal,
      rateBytesPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.ceil(remaining / rate) : undefined,
      // over the span the rate covers: under a cap a peer delivers a chunk now and then
      peersServing: [...tracked.lastChunkAtMs.values()].filter(at => at >= sinceMs).length,
      peers: [...tracked.bytesByPeer].map(([peer, bytes]) => ({ peer, bytes })),
      objects: tracked.release.objects.map((object, index) => ({
        sha256: object.sha256,
        sizeBytes: object.size,
        chunksDone: Math.min(
          tracked.held[index]?.size ?? 0,
          chunkCount(object.size, tracked.release.chunkBytes),
        ),
        chunksTotal: chunkCount(object.size, tracked.release.chunkBytes),
      })),
      bans: stats.bans,
    }
  }

  readonly #onStarted = ({ id, download }: { id: string; download: Download }): void => {
    const release = this.#device.releases.get(id)
    if (release === undefined) return
    const tracked: Tracked = {
      download,
      release,
      held: release.objects.map(() => new Set<number>()),
      samples: [{ atMs: Date.now(), bytesDone: download.stats().bytesDone }],
      bytesByPeer: new Map(),
      lastChunkAtMs: new Map(),
    }
    this.#tracked.set(id, tracked)
    download.on('stored', chunk => {
      tracked.held[chunk.objectIndex]?.add(chunk.chunkIndex)
      const object = release.objects[chunk.objectIndex]
      const bytes =
        object === undefined ? 0 : chunkLength(object.size, release.chunkBytes, chunk.chunkIndex)
      tracked.bytesByPeer.set(chunk.peer, (tracked.bytesByPeer.get(chunk.peer) ?? 0) + bytes)
      tracked.lastChunkAtMs.set(chunk.peer, Date.now())
    })
    download.on('progress', progress => {
      const now = Date.now()
      const last = tracked.samples.at(-1)
      const sample = { atMs: now, bytesDone: progress.bytesDone }
      // one sample per SAMPLE_SPACING_MS slot, the latest in it; the first sample stays: it is
      // where the download started
      const sameSlot =
        last !== undefined &&
        Math.floor(now / SAMPLE_SPACING_MS) === Math.floor(last.atMs / SAMPLE_SPACING_MS)
      if (sameSlot && tracked.samples.length > 1) {
        tracked.samples[tracked.samples.length - 1] = sample
      } else {
        tracked.samples.push(sample)
      }
      while (tracked.samples.length > 2 && tracked.samples[0]!.atMs < now - LONGEST_WINDOW_MS) {
        tracked.samples.shift()
      }
    })
    void this.#loadHeld(tracked)
  }

  readonly #onEnded = ({ id }: { id: string }): void => {
    this.#tracked.delete(id)
  }

  /** What the store already held when the download started (resume). */
  async #loadHeld(tracked: Tracked): Promise<void> {
    const { release } = tracked
    const store = this.#device.store
    for (const [index, object] of release.objects.entries()) {
      const held = tracked.held[index]!
      const count = chunkCount(object.size, release.chunkBytes)
      try {
        if (await store.has(object.sha256)) {
          for (let i = 0; i < count; i++) held.add(i)
          continue
        }
        const bitmap = await store.chunkMap(object.sha256, release.chunkBytes)
        if (bitmap === undefined) continue
        for (let i = 0; i < count; i++) {
          if (((bitmap[i >> 3] ?? 0) >> (i & 7)) & 1) held.add(i)
        }
      } catch {
        // progress display only: a store read racing the download's own writes is not worth failing
      }
    }
  }
}
