import { Counter, Gauge, Registry } from 'prom-client'
import type { BanEvent, Download, StoredChunk } from '../exchange/index.js'
import type { Handover, HandoverOutcome, HandoverRecord } from '../pantavisor/index.js'
import { chunkLength } from '../release/index.js'
import type { Device } from './device.js'
import type { FloorView } from './floor.js'

export interface DeviceMetricsInit {
  device: Device
  handover: Handover | undefined
  /** tells whether a peer is the seed of a release (from the floor) */
  floor?: FloorView
}

/**
 * The device's Prometheus metrics, in a registry of its own so that many devices in one process
 * (simulations, tests) do not share counters. Names are stable: dashboards depend on them.
 */
export class DeviceMetrics {
  readonly registry = new Registry()
  readonly #init: DeviceMetricsInit
  readonly #unhook: Array<() => void> = []
  readonly #seedPeers = new Map<string, Set<string>>()
  #bytesServedCounted = 0

  readonly bytesReceived: Counter<'kind'>
  readonly bytesSent: Counter<'kind'>
  readonly chunksVerified: Counter
  readonly chunksRejected: Counter<'reason'>
  readonly bans: Counter<'reason'>
  readonly releasesRefused: Counter
  readonly handovers: Counter
  readonly trialOutcomes: Counter<'result' | 'status'>

  constructor(init: DeviceMetricsInit) {
    this.#init = init
    const registers = [this.registry]
    this.bytesReceived = new Counter({
      name: 'pvswarm_bytes_received_total',
      help: 'Verified chunk bytes received, by the kind of peer that sent them (seed or peer)',
      labelNames: ['kind'],
      registers,
    })
    this.bytesSent = new Counter({
      name: 'pvswarm_bytes_sent_total',
      help: 'Chunk bytes served to peers, by what this device is for its newest release (seed or peer)',
      labelNames: ['kind'],
      registers,
      collect: () => this.#countServed(),
    })
    this.chunksVerified = new Counter({
      name: 'pvswarm_chunks_verified_total',
      help: 'Chunks received whose sha256 matched the release, stored',
      registers,
    })
    this.chunksRejected = new Counter({
      name: 'pvswarm_chunks_rejected_total',
      help: 'Chunks received and thrown away: wrong hash or wrong size',
      labelNames: ['reason'],
      registers,
    })
    this.bans = new Counter({
      name: 'pvswarm_peer_bans_total',
      help: 'Peers banned from a download, by reason (bad-hash, wrong-size, stalled)',
      labelNames: ['reason'],
      registers,
    })
    this.releasesRefused = new Counter({
      name: 'pvswarm_releases_refused_total',
      help: 'Release offers refused by policy or as invalid',
      registers,
    })
    this.handovers = new Counter({
      name: 'pvswarm_handovers_started_total',
      help: 'Hand-overs to Pantavisor started (objects and step upload began)',
      registers,
    })
    this.trialOutcomes = new Counter({
      name: 'pvswarm_trial_outcomes_total',
      help: 'Trials concluded, by result (installed, failed) and Pantavisor status',
      labelNames: ['result', 'status'],
      registers,
    })
    const { device } = init
    new Gauge({
      name: 'pvswarm_peers',
      help: 'Peers connected now',
      registers,
      collect() {
        this.set(device.network.libp2p.getPeers().length)
      },
    })
    new Gauge({
      name: 'pvswarm_releases',
      help: 'Accepted releases, by state (downloading, complete, installed, failed)',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = { downloading: 0, complete: 0, installed: 0, failed: 0 }
        for (const release of device.status()) counts[release.phase]++
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count)
      },
    })
    new Gauge({
      name: 'pvswarm_floor_devices',
      help: 'Devices this device knows of on the floor, itself included',
      registers,
      collect() {
        this.set(init.floor?.size ?? 0)
      },
    })
    for (const kind of ['seed', 'peer']) {
      this.bytesReceived.inc({ kind }, 0)
      this.bytesSent.inc({ kind }, 0)
    }
    this.#hook()
  }

  /** The metrics in Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  detach(): void {
    for (const unhook of this.#unhook.splice(0)) unhook()
  }

  #hook(): void {
    const { device, handover } = this.#init
    const onStarted = ({ id, download }: { id: string; download: Download }): void => {
      const release = device.releases.get(id)
      download.on('stored', (chunk: StoredChunk) => {
        this.chunksVerified.inc()
        const object = release?.objects[chunk.objectIndex]
        if (release === undefined || object === undefined) return
        const bytes = chunkLength(object.size, release.chunkBytes, chunk.chunkIndex)
        this.bytesReceived.inc({ kind: this.#isSeed(chunk.peer, id) ? 'seed' : 'peer' }, bytes)
      })
      download.on('ban', (ban: BanEvent) => {
        this.bans.inc({ reason: ban.reason })
        if (ban.reason !== 'stalled') this.chunksRejected.inc({ reason: ban.reason })
      })
    }
    const onRefused = (): void => this.releasesRefused.inc()
    const onSettled = ({ outcome }: { outcome: HandoverOutcome }): void =>
      this.trialOutcomes.inc({ result: outcome.result, status: outcome.status })
    device.on('download:started', onStarted)
    device.on('release:refused', onRefused)
    device.on('release:settled', onSettled)
    this.#unhook.push(
      () => device.off('download:started', onStarted),
      () => device.off('release:refused', onRefused),
      () => device.off('release:settled', onSettled),
    )
    if (handover !== undefined) {
      const onPhase = (record: HandoverRecord): void => {
        if (record.phase === 'uploading') this.handovers.inc()
      }
      handover.on('phase', onPhase)
      this.#unhook.push(() => handover.off('phase', onPhase))
    }
  }

  #isSeed(peer: string, releaseId: string): boolean {
    const row = this.#init.floor?.entry(peer)
    return row?.newest?.releaseId === releaseId && row.newest.seeded
  }

  /**
   * Upload counters are cumulative in the exchange; the difference since the last scrape goes to
   * the kind this device is now. A device that seeds one release and relays another counts both
   * under its newest release's kind.
   */
  #countServed(): void {
    const served = this.#init.device.exchange.uploadStats().bytesServed
    const delta = served - this.#bytesServedCounted
    this.#bytesServedCounted = served
    const newest = this.#init.device.status().sort((a, b) => b.sequence - a.sequence)[0]
    const kind = newest?.seeded === true ? 'seed' : 'peer'
    this.bytesSent.inc({ kind }, Math.max(0, delta))
  }
}
