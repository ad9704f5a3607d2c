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
  /** over the last few seconds */
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

/** Rate and "serving" look at this much of the recent past. */
const WINDOW_MS = 5_000

interface Tracked {
  download: Download
  release: Release
  /** per object: chunk indices held (from the store at start, then as stored) */
  held: Array<Set<number>>
  samples: Array<{ atMs: number; bytesDone: number }>
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
    const recent = tracked.samples.filter(sample => sample.atMs >= nowMs - WINDOW_MS)
    const first = recent[0]
    const spanMs = first === undefined ? 0 : nowMs - first.atMs
    const rate =
      first === undefined || spanMs < 200
        ? 0
        : ((stats.bytesDone - first.bytesDone) * 1000) / spanMs
    const remaining = stats.bytesTotal - stats.bytesDone
    return {
      releaseId,
      chunksDone: stats.chunksDone,
      chunksTotal: stats.chunksTotal,
      bytesDone: stats.bytesDone,
      bytesTotal: stats.bytesTotal,
      rateBytesPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.ceil(remaining / rate) : undefined,
      peersServing: [...tracked.lastChunkAtMs.values()].filter(at => at >= nowMs - WINDOW_MS)
        .length,
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
      tracked.samples.push({ atMs: now, bytesDone: progress.bytesDone })
      // keep one sample older than the window, so the rate spans all of it
      while (tracked.samples.length > 2 && tracked.samples[1]!.atMs < now - WINDOW_MS) {
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
