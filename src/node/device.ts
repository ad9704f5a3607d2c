import { EventEmitter } from 'node:events'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  createExchange,
  type Download,
  type DownloadStats,
  type Exchange,
  type ExchangeOptions,
  type ExchangeStore,
  type OfferResult,
} from '../exchange/index.js'
import type { HandoverOutcome } from '../pantavisor/index.js'
import { decideRelease, type ReleaseDecision } from '../policy/index.js'
import { parseRelease, releaseId, type Release } from '../release/index.js'
import { openStore, type Store } from '../store/index.js'
import { AcceptedReleases, type AcceptedRecord } from './release-book.js'
import { removeRetiredObjects, type RetentionResult } from './retention.js'
import { seedObjects } from './seed.js'

/** The policy facts a device is configured with. */
export interface DevicePolicyConfig {
  fleet: string
  /** release keys (`ed25519:…`) this device trusts */
  trustedKeys: string[]
  /** distinct trusted signatures required. @default 1 */
  threshold?: number
  /** false on hardware without a trustworthy clock. @default true */
  clockTrusted?: boolean
  /** largest revision accepted, in bytes; undefined = no limit */
  maxRevisionBytes?: number
}

/** The libp2p side as the device needs it: started, stopped, and handed to the exchange. */
export interface DeviceNetwork {
  libp2p: Parameters<typeof createExchange>[0]['node'] & {
    getMultiaddrs(): Array<{ toString(): string }>
  }
  start(): Promise<void>
  stop(): Promise<void>
  /** `peer` was just heard from on an exchange stream (liveness takes it as a sign of life) */
  notePeerActivity?(peer: string): void
}

/** Called once a release is complete in the store; resolves when this device is done with it. */
export type CompletionHook = (id: string, release: Release) => Promise<void>

export interface DeviceInit {
  dataDir: string
  policy: DevicePolicyConfig
  /** builds the network once the store is open (the identity lives in the data directory) */
  network: (store: Store) => Promise<DeviceNetwork>
  exchange?: ExchangeOptions
  /** what the exchange serves and fills; the store itself unless layered (objects Pantavisor holds) */
  exchangeStore?: (store: Store, releases: AcceptedReleases) => ExchangeStore
  /** hand-over to Pantavisor, or nothing for a download-only device */
  onComplete?: CompletionHook
  logger: Logger
}

export interface DeviceEvents {
  'release:accepted': [{ id: string; release: Release; from: string }]
  'release:refused': [
    { id: string | undefined; from: string; decision: ReleaseDecision | undefined; reason: string },
  ]
  'download:started': [{ id: string; download: Download }]
  'download:complete': [{ id: string; stats: DownloadStats | undefined }]
  'download:failed': [{ id: string; error: Error }]
  /**
   * A hand-over's outcome is in the release book (phase installed or failed)
   * and, after an install, the store copies Pantavisor now holds are dropped.
   * Emitted by the daemon that owns the hand-over, once per release and run.
   */
  'release:settled': [{ id: string; outcome: HandoverOutcome }]
}

/**
 * One pvswarm device: its store, its libp2p node and the exchange on it, and
 * the rules that tie them together. Releases from peers or from a local seed
 * go through policy before anything is stored; an accepted release is
 * downloaded (superseding an older one of its fleet), then handed on.
 */
export class Device extends EventEmitter<DeviceEvents> {
  readonly store: Store
  readonly releases: AcceptedReleases
  readonly network: DeviceNetwork
  readonly exchange: Exchange
  readonly #init: DeviceInit
  readonly #log: Logger
  readonly #downloads = new Map<string, Download>()
  readonly #refusedLogged = new Set<string>()
  /** retention passes and seed imports, one at a time: each sees what the one before did */
  #retention: Promise<unknown> = Promise.resolve()
  #stopped = false

  private constructor(
    init: DeviceInit,
    store: Store,
    releases: AcceptedReleases,
    network: DeviceNetwork,
  ) {
    super()
    this.#init = init
    this.#log = init.logger
    this.store = store
    this.releases = releases
    this.network = network
    this.exchange = createExchange({
      node: network.libp2p,
      store: init.exchangeStore?.(store, releases) ?? store,
      book: releases,
      offerRelease: (bytes, from) => this.offer(bytes, from.toString()),
      options: {
        ...init.exchange,
        isSeed: id => this.releases.record(id)?.seeded === true,
      },
      logger: init.logger.child({ room: 'exchange' }),
      ...(network.notePeerActivity && {
        onPeerActivity: (peer: string) => network.notePeerActivity?.(peer),
      }),
    })
  }

  /** Opens the data directory, starts the node and picks up where the last run stopped. */
  static async start(init: DeviceInit): Promise<Device> {
    const store = await openStore({ dataDir: init.dataDir })
    try {
      const releases = new AcceptedReleases(store)
      await releases.load()
      const network = await init.network(store)
      const device = new Device(init, store, releases, network)
      await network.start()
      await device.exchange.start()
      init.logger.info(
        {
          addresses: network.libp2p.getMultiaddrs().map(a => a.toString()),
          fleet: init.policy.fleet,
        },
        'device started',
      )
      return device
    } catch (err) {
      await store.close()
      throw err
    }
  }

  get peerId(): PeerId {
    return this.network.libp2p.peerId
  }

  /** Release bytes from a peer: policy first, then store, download and pass on. */
  async offer(bytes: Uint8Array, from: string): Promise<OfferResult> {
    let release: Release
    try {
      release = parseRelease(bytes)
    } catch (err) {
      this.#refused(undefined, from, undefined, (err as Error).message)
      return 'refused'
    }
    const id = releaseId(release)
    if (this.releases.has(id)) return 'known'

    const decision = await this.#decide(id, release)
    if (decision.verdict === 'already-have') return 'known'
    if (decision.verdict === 'refuse') {
      this.#refused(id, from, decision, decision.reason)
      return 'refused'
    }
    await this.#accept(id, release, false, from, decision)
    return 'accepted'
  }

  /**
   * A release given to this device directly (`pvswarm seed`): judged like any
   * other, its objects imported and checked against its chunk lists, then
   * announced. Throws with the reason when it is refused.
   */
  async seed(release: Release, revisionPath: string): Promise<string> {
    const id = releaseId(release)
    const newest = this.releases.newestOf(release.fleet)
    if (this.releases.has(id) && newest !== undefined && newest.id !== id) {
      // it would never be fetched or handed over again, and its objects would only fill the store
      throw new Error(
        `release ${id} is superseded here: fleet ${release.fleet} is at sequence ` +
          `${newest.record.sequence}`,
      )
    }
    if (!this.releases.has(id)) {
      const decision = await this.#decide(id, release, true)
      if (decision.verdict === 'refuse') {
        this.#refused(id, 'seed', decision, decision.reason)
        throw new Error(decision.reason)
      }
    }
    // no retention pass may run between the import and the accept: it would take away the
    // imported objects that only retired releases list, before the new release keeps them
    await this.#betweenRetentionPasses(async () => {
      await seedObjects(this.store, release, revisionPath)
      if (!this.releases.has(id)) await this.#accept(id, release, true, 'seed', undefined)
      else this.#fetchAndHandOn(id, release)
    })
    return id
  }

  /** Accepted releases with their phase and whether a newer one replaced them, for status output. */
  status(): Array<{ id: string; superseded: boolean } & AcceptedRecord> {
    return this.releases.records().map(([id, record]) => ({
      id,
      ...record,
      // a newer release of its fleet was accepted: this one is kept as a record, not carried on
      superseded: this.releases.newestOf(record.fleet)?.id !== id,
    }))
  }

  download(id: string): Download | undefined {
    return this.#downloads.get(id)
  }

  /**
   * Removes from the store what only superseded releases need (see
   * removeRetiredObjects). Runs by itself when a release is accepted and on
   * resume; the hand-over calls it once a trial has settled.
   *
   * Known shortcoming: a release accepted from a peer while a pass is under way
   * is not seen by that pass; an object it shares only with retired releases
   * may be removed and is then fetched again.
   */
  removeRetiredObjects(): Promise<RetentionResult> {
    return this.#betweenRetentionPasses(() =>
      removeRetiredObjects(this.releases, {
        // without a completion hook nothing is handed over, so a complete release waits for nothing
        handsOver: this.#init.onComplete !== undefined,
        logger: this.#log.child({ room: 'store' }),
      }),
    )
  }

  /** Runs `work` once the retention passes queued so far are done; later ones wait for it. */
  #betweenRetentionPasses<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#retention.then(work)
    this.#retention = run.catch(() => {})
    return run
  }

  #removeRetiredInBackground(): void {
    if (this.#stopped) return
    this.removeRetiredObjects().catch(err => {
      if (this.#stopped) return
      this.#log.warn({ err: (err as Error).message }, 'objects of superseded releases kept')
    })
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    const startedAt = performance.now()
    for (const download of this.#downloads.values()) download.cancel()
    await this.exchange.stop()
    const exchangeMs = performance.now() - startedAt
    await this.network.stop()
    const networkMs = performance.now() - startedAt - exchangeMs
    await this.store.close()
    this.#log.info(
      { exchangeMs: Math.round(exchangeMs), networkMs: Math.round(networkMs) },
      'device stopped',
    )
  }

  async #decide(id: string, release: Release, seeding = false): Promise<ReleaseDecision> {
    const { policy } = this.#init
    const state = await this.releases.deviceState()
    const missingBytes = await this.#missingBytes(release)
    return decideRelease({
      release,
      releaseId: id,
      fleet: policy.fleet,
      trustedKeys: policy.trustedKeys,
      threshold: policy.threshold,
      history: this.releases.history(release.fleet, state),
      clock: { nowMs: Date.now(), trusted: policy.clockTrusted ?? true },
      // a seed brings its objects with it: only the configured size limit applies
      space: {
        missingBytes: seeding ? 0 : missingBytes,
        freeBytes: await this.store.freeBytes(),
        maxRevisionBytes: policy.maxRevisionBytes,
      },
    })
  }

  async #missingBytes(release: Release): Promise<number> {
    let missing = 0
    for (const object of release.objects) {
      if (!(await this.store.has(object.sha256))) missing += object.size
    }
    return missing
  }

  async #accept(
    id: string,
    release: Release,
    seeded: boolean,
    from: string,
    decision: ReleaseDecision | undefined,
  ): Promise<void> {
    await this.releases.accept(release, seeded)
    this.#log.info(
      {
        releaseId: id,
        fleet: release.fleet,
        sequence: release.sequence,
        from,
        reason: decision?.reason,
      },
      'release accepted',
    )
    this.emit('release:accepted', { id, release, from })
    this.#fetchAndHandOn(id, release)
    void this.exchange.announce()
    this.#removeRetiredInBackground()
  }

  /**
   * Downloads and hands on in the background: whoever gave us the release (a
   * peer's announcement, a seed request) is answered now, and peers hear of
   * it at once instead of after this device's download and trial.
   */
  #fetchAndHandOn(id: string, release: Release): void {
    this.#startDownload(id, release).catch(err => {
      if (this.#stopped) return
      this.#log.error({ releaseId: id, err: (err as Error).message }, 'release not carried on')
    })
  }

  #refused(
    id: string | undefined,
    from: string,
    decision: ReleaseDecision | undefined,
    reason: string,
  ): void {
    const key = `${id ?? 'unparsable'}:${decision?.verdict === 'refuse' ? decision.code : reason}`
    // log a refusal once, not once per peer that offers the same release
    if (!this.#refusedLogged.has(key)) {
      this.#refusedLogged.add(key)
      this.#log.warn(
        {
          releaseId: id,
          from,
          code: decision?.verdict === 'refuse' ? decision.code : 'invalid-release',
          reason,
        },
        'release refused',
      )
    }
    this.emit('release:refused', { id, from, decision, reason })
  }

  /** Downloads the newest release of its fleet; an older download of the same fleet stops. */
  async #startDownload(id: string, release: Release): Promise<void> {
    if (this.#stopped) return
    const newest = this.releases.newestOf(release.fleet)
    if (newest !== undefined && newest.id !== id) return

    for (const [otherId, other] of this.#downloads) {
      if (otherId !== id && this.releases.get(otherId)?.fleet === release.fleet) {
        this.#log.info({ releaseId: otherId, supersededBy: id }, 'download superseded')
        other.cancel()
      }
    }
    if (this.#downloads.has(id)) return

    const download = this.exchange.download(id, release)
    this.#downloads.set(id, download)
    this.emit('download:started', { id, download })
    download.on('ban', ban =>
      this.#log.warn(
        { releaseId: id, peer: ban.peer, reason: ban.reason, detail: ban.detail },
        'peer banned for release',
      ),
    )
    try {
      const stats = await download.done
      this.#downloads.delete(id)
      await this.#completed(id, release, stats)
    } catch (err) {
      this.#downloads.delete(id)
      if (this.#stopped) return
      this.#log.warn(
        { releaseId: id, err: (err as Error).message },
        'download ended without completing',
      )
      this.emit('download:failed', { id, error: err as Error })
    }
  }

  async #completed(id: string, release: Release, stats: DownloadStats | undefined): Promise<void> {
    const record = this.releases.record(id)
    if (record !== undefined && record.phase === 'downloading') {
      await this.releases.setPhase(id, 'complete')
    }
    this.#log.info(
      {
        releaseId: id,
        bytes: stats?.bytesTotal,
        duplicateBytes: stats?.duplicateBytes,
        bans: stats?.bans.length,
      },
      'release complete',
    )
    this.emit('download:complete', { id, stats })
    if (this.#init.onComplete !== undefined && !this.#stopped) {
      await this.#init.onComplete(id, release).catch(err => {
        this.#log.error({ releaseId: id, err: (err as Error).message }, 'hand-over failed')
      })
    }
  }

  /**
   * After a restart: finish the newest release of each fleet (download what
   * the store lacks of it, then hand it on). Call once, when whatever
   * `onComplete` needs is ready.
   */
  resume(): void {
    this.#removeRetiredInBackground()
    const fleets = new Set(this.releases.records().map(([, record]) => record.fleet))
    for (const fleet of fleets) {
      const newest = this.releases.newestOf(fleet)
      if (newest === undefined) continue
      const release = this.releases.get(newest.id)
      if (release === undefined) continue
      // a complete release is checked against the store too: an object fsck quarantined while
      // the daemon was stopped is fetched again before the release is handed on
      if (newest.record.phase === 'downloading' || newest.record.phase === 'complete') {
        this.#fetchAndHandOn(newest.id, release)
      }
    }
  }
}
