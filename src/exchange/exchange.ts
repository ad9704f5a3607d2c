import type { PeerId, Stream } from '@libp2p/interface'
import { chunkCount } from '../release/index.js'
import { ChunkClient } from './chunk-client.js'
import { ChunkServer, type UploadStats } from './chunk-server.js'
import { CHUNK_PROTOCOL, DEFAULTS, HAVE_PROTOCOL, RELEASE_PROTOCOL } from './constants.js'
import type { DownloadOptions } from './download-types.js'
import { subscribeHave, type HaveSubscription } from './have-client.js'
import { HaveServer } from './have-server.js'
import { ReleaseAnnouncer } from './release-protocol.js'
import { Download } from './scheduler.js'
import type {
  ExchangeLogger,
  ExchangeNode,
  ExchangeStore,
  OfferRelease,
  ReleaseBook,
  ReleaseContent,
  ReleaseSummary,
} from './types.js'
import { UploadLimiter } from './upload-limiter.js'

/** Tuning of the exchange as a whole. */
export interface ExchangeOptions {
  /** Chunk requests served at the same time, over all peers (twice as many may wait). @default 2 */
  maxConcurrentUploads?: number
  /** Upload rate cap in bytes per second over all peers; 0 means none. @default 0 */
  uploadRateBytesPerSecond?: number
  /** Requests one peer may have waiting on its chunk stream; more closes the stream. @default 64 */
  maxPipelinedRequests?: number
  /**
   * Longest a chunk sent to a peer may take to leave, at least (larger chunks get more, at 32 KiB/s);
   * a peer that takes longer has its chunk stream reset, which frees the upload slot. @default 30000
   */
  uploadDeadlineMs?: number
  /** Chunks newly stored are told to have-map subscribers at most this often. @default 100 */
  haveFlushIntervalMs?: number
  /** One release announcement (both ways, bytes included) must finish within this. @default 30000 */
  releaseExchangeTimeoutMs?: number
  /** Releases fetched from one announcement at most. @default 8 */
  maxReleasesPerAnnouncement?: number
  /** Release ids remembered as already offered, so they are not fetched again. @default 1024 */
  rememberedReleaseIds?: number
  /**
   * Serve a release only when isSeed says this device is its seed: the central baseline, where
   * devices may not serve each other.
   * @default false
   */
  serveOnlyAsSeed?: boolean
  /**
   * Whether this device is the seed of a release: with serveOnlyAsSeed the only one that serves it;
   * always, one that sends each chunk once before it sends any again. @default () => false
   */
  isSeed?: (releaseId: string) => boolean
  /**
   * Whether an announced release is worth fetching; the default fetches it when this device holds
   * no release of that fleet with the same or a higher sequence.
   */
  wantRelease?: (summary: ReleaseSummary, from: PeerId) => boolean | Promise<boolean>
  /** Defaults for every download (each download may override them). @default {} */
  download?: DownloadOptions
}

export interface ExchangeInit {
  node: ExchangeNode
  store: ExchangeStore
  /** the releases accepted here: what is announced and what may be served */
  book: ReleaseBook
  /** hands release bytes from a peer to the composition (policy + store) */
  offerRelease: OfferRelease
  options?: ExchangeOptions
  logger?: ExchangeLogger
  /**
   * Called with a peer id whenever a stream of this exchange receives bytes from that peer: proof
   * of life for a liveness check whose pings queue behind chunk data on a loaded link.
   */
  onPeerActivity?: (peer: string) => void
}

const SILENT: ExchangeLogger = { debug() {}, info() {}, warn() {} }

/**
 * A have subscription that ended while its peer stays connected is opened again after this…
 * (a peer refuses until it has accepted the release itself, and opening can time out on a
 * crowded link: without a retry the download would never hear of that peer's chunks)
 */
const RESUBSCRIBE_FIRST_MS = 1000
/** …doubling up to this. */
const RESUBSCRIBE_MAX_MS = 30_000

interface ActiveDownload {
  download: Download
  release: ReleaseContent
  subscriptions: Map<string, HaveSubscription>
  /** peer → the pending re-subscription and the delay of the next one */
  retries: Map<string, { timer: NodeJS.Timeout | undefined; delayMs: number }>
}

/**
 * The exchange on one libp2p node: announces releases to every peer that connects and passes on
 * the ones accepted here, serves chunks of accepted releases, and runs downloads over every
 * connected peer.
 */
export class Exchange {
  readonly #init: ExchangeInit
  readonly #options: ExchangeOptions
  readonly #logger: ExchangeLogger
  readonly #chunks: ChunkServer
  readonly #haves: HaveServer
  readonly #announcer: ReleaseAnnouncer
  readonly #clients = new Map<string, ChunkClient>()
  readonly #peers = new Map<string, PeerId>()
  readonly #downloads = new Map<string, ActiveDownload>()
  readonly #announcing = new Map<string, { again: boolean }>()
  #started = false

  constructor(init: ExchangeInit) {
    this.#init = init
    this.#options = init.options ?? {}
    this.#logger = init.logger ?? SILENT
    const options = this.#options
    const mayServe = (releaseId: string): boolean =>
      options.serveOnlyAsSeed !== true || (options.isSeed?.(releaseId) ?? false)
    const uploadSlots = options.maxConcurrentUploads ?? DEFAULTS.maxConcurrentUploads
    this.#chunks = new ChunkServer({
      store: init.store,
      book: init.book,
      limiter: new UploadLimiter(
        uploadSlots,
        options.uploadRateBytesPerSecond ?? DEFAULTS.uploadRateBytesPerSecond,
        // a request waiting behind each one served and one more from another peer
        2 * uploadSlots,
      ),
      mayServe,
      // with serveOnlyAsSeed nobody else serves: a second copy has nowhere else to come from
      isOrigin: releaseId =>
        options.serveOnlyAsSeed !== true && (options.isSeed?.(releaseId) ?? false),
      maxPipelinedRequests: options.maxPipelinedRequests ?? DEFAULTS.maxPipelinedRequests,
      uploadDeadlineMs: options.uploadDeadlineMs ?? DEFAULTS.uploadDeadlineMs,
      ...(init.onPeerActivity && { onDelivered: init.onPeerActivity }),
      // a chunk on its way from here is as good as fetching it, for the other askers' choices
      onHandOut: (sha256, index) => this.#haves.noteFetching(sha256, index),
      logger: this.#logger,
    })
    this.#haves = new HaveServer({
      store: init.store,
      book: init.book,
      mayServe,
      flushIntervalMs: options.haveFlushIntervalMs ?? DEFAULTS.haveFlushIntervalMs,
      logger: this.#logger,
    })
    this.#announcer = new ReleaseAnnouncer({
      node: init.node,
      book: init.book,
      offerRelease: init.offerRelease,
      wantRelease: options.wantRelease,
      maxReleasesPerAnnouncement:
        options.maxReleasesPerAnnouncement ?? DEFAULTS.maxReleasesPerAnnouncement,
      rememberedReleaseIds: options.rememberedReleaseIds ?? DEFAULTS.rememberedReleaseIds,
      timeoutMs: options.releaseExchangeTimeoutMs ?? DEFAULTS.releaseExchangeTimeoutMs,
      onAccepted: () => void this.announce(),
      onAnnounced: (releaseIds, from) => this.#peerHolds(releaseIds, from),
      logger: this.#logger,
    })
  }

  /** Registers the protocols and starts following peers (the node must be started). */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { node } = this.#init
    await node.handle(
      RELEASE_PROTOCOL,
      (stream, connection) => {
        this.#announcer.handle(stream, connection.remotePeer)
      },
      { maxInboundStreams: 4, maxOutboundStreams: 4 },
    )
    await node.handle(
      HAVE_PROTOCOL,
      (stream, connection) => {
        const peer = connection.remotePeer.toString()
        this.#watch(stream, peer)
        this.#haves.handle(stream, peer)
      },
      { maxInboundStreams: 32, maxOutboundStreams: 32 },
    )
    await node.handle(
      CHUNK_PROTOCOL,
      (stream, connection) => {
        const peer = connection.remotePeer.toString()
        this.#watch(stream, peer)
        this.#chunks.handle(stream, peer)
      },
      { maxInboundStreams: 8, maxOutboundStreams: 8 },
    )
    node.addEventListener('peer:connect', this.#onConnect)
    node.addEventListener('peer:disconnect', this.#onDisconnect)
    for (const peer of node.getPeers()) this.#peerUp(peer)
  }

  /** Unregisters the protocols, cancels downloads and closes the streams this exchange opened. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    const { node } = this.#init
    node.removeEventListener('peer:connect', this.#onConnect)
    node.removeEventListener('peer:disconnect', this.#onDisconnect)
    for (const active of this.#downloads.values()) active.download.cancel()
    for (const client of this.#clients.values()) client.close()
    this.#clients.clear()
    this.#peers.clear()
    await node.unhandle([RELEASE_PROTOCOL, HAVE_PROTOCOL, CHUNK_PROTOCOL])
  }

  /** Tells every connected peer this device's newest releases (after publishing one locally). */
  async announce(): Promise<void> {
    await Promise.all([...this.#peers.values()].map(peer => this.#announceTo(peer)))
  }

  /**
   * Starts (or returns the running) download of an accepted release: every object complete in
   * the store when `done` resolves.
   */
  download(releaseId: string, release: ReleaseContent, options?: DownloadOptions): Download {
    const running = this.#downloads.get(releaseId)
    if (running !== undefined) return running.download
    const download = new Download({
      releaseId,
      release,
      store: this.#init.store,
      options: { ...this.#options.download, ...options },
      logger: this.#logger,
    })
    const active: ActiveDownload = {
      download,
      release,
      subscriptions: new Map(),
      retries: new Map(),
    }
    this.#downloads.set(releaseId, active)
    download.on('stored', chunk => this.#haves.noteStored(chunk.sha256, chunk.chunkIndex))
    download.on('requested', chunk => this.#haves.noteFetching(chunk.sha256, chunk.chunkIndex))
    download.on('ban', ban => active.subscriptions.get(ban.peer)?.close())
    void download.done
      .finally(() => {
        this.#downloads.delete(releaseId)
        for (const subscription of active.subscriptions.values()) subscription.close()
        active.subscriptions.clear()
        for (const retry of active.retries.values()) clearTimeout(retry.timer)
        active.retries.clear()
      })
      .catch(() => {})
    for (const peer of this.#peers.values()) this.#attach(active, peer)
    void download.start()
    return download
  }

  /** Bytes served, in total and per peer. */
  uploadStats(): UploadStats {
    return this.#chunks.stats()
  }

  readonly #onConnect = (event: CustomEvent<PeerId>): void => this.#peerUp(event.detail)

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peer = event.detail.toString()
    this.#peers.delete(peer)
    this.#clients.get(peer)?.close()
    this.#clients.delete(peer)
    for (const active of this.#downloads.values()) {
      clearTimeout(active.retries.get(peer)?.timer)
      active.retries.delete(peer)
      active.subscriptions.get(peer)?.close()
      active.download.removePeer(peer)
    }
  }

  #peerUp(peerId: PeerId): void {
    const peer = peerId.toString()
    if (this.#peers.has(peer)) return
    this.#peers.set(peer, peerId)
    void this.#announceTo(peerId)
    for (const active of this.#downloads.values()) this.#attach(active, peerId)
  }

  /** One announcement to one peer at a time; a request during one runs another after it. */
  async #announceTo(peerId: PeerId): Promise<void> {
    const peer = peerId.toString()
    const running = this.#announcing.get(peer)
    if (running !== undefined) {
      running.again = true
      return
    }
    const state = { again: true }
    this.#announcing.set(peer, state)
    try {
      while (state.again && this.#peers.has(peer)) {
        state.again = false
        await this.#announcer.announceTo(peerId).catch((err: Error) => {
          this.#logger.debug({ peer, err: err.message }, 'release announcement failed')
        })
      }
    } finally {
      this.#announcing.delete(peer)
    }
  }

  /** Subscribes to a peer's have-map for a download and lets the download ask it for chunks. */
  #attach(active: ActiveDownload, peerId: PeerId): void {
    const peer = peerId.toString()
    const { download, release, subscriptions } = active
    if (subscriptions.has(peer) || download.isBanned(peer) || download.finished) return
    const counts = release.objects.map(object => chunkCount(object.size, release.chunkBytes))
    const subscription = subscribeHave(
      this.#init.node,
      peerId,
      download.releaseId,
      counts,
      {
        onMap: (objectIndex, bitmap) => {
          active.retries.delete(peer)
          download.peerHasObject(peer, objectIndex, bitmap)
        },
        onChunk: (objectIndex, chunkIndex) => {
          active.retries.delete(peer)
          download.peerHasChunk(peer, objectIndex, chunkIndex)
        },
        onFetching: (objectIndex, chunkIndex) =>
          download.peerIsFetching(peer, objectIndex, chunkIndex),
        onTraffic: () => this.#init.onPeerActivity?.(peer),
        onEnd: reason => {
          if (subscriptions.get(peer) === subscription) subscriptions.delete(peer)
          download.removePeer(peer)
          this.#logger.debug(
            { peer, releaseId: download.releaseId, reason },
            'have-map subscription ended',
          )
          if (subscriptions.get(peer) === undefined) this.#resubscribeLater(active, peerId)
        },
      },
      this.#logger,
    )
    subscriptions.set(peer, subscription)
    const client = this.#client(peerId)
    download.addPeer(peer, (request, signal) =>
      client.fetch(download.releaseId, request.sha256, request.chunkIndex, signal),
    )
  }

  /**
   * A peer says it holds these releases: a download of one that has no have subscription with it
   * (refused earlier, because the peer had not accepted the release yet) opens one now instead of
   * at its next retry, so chunks start flowing between neighbours as soon as they can.
   */
  #peerHolds(releaseIds: string[], peerId: PeerId): void {
    const peer = peerId.toString()
    if (!this.#started || !this.#peers.has(peer)) return
    for (const releaseId of releaseIds) {
      const active = this.#downloads.get(releaseId)
      if (active === undefined || active.subscriptions.has(peer)) continue
      const retry = active.retries.get(peer)
      clearTimeout(retry?.timer)
      active.retries.delete(peer)
      this.#attach(active, peerId)
    }
  }

  /** Opens a peer's have subscription again later, while the download runs and the peer stays. */
  #resubscribeLater(active: ActiveDownload, peerId: PeerId): void {
    const peer = peerId.toString()
    const { download, retries } = active
    if (!this.#started || download.finished || download.isBanned(peer)) return
    if (this.#peers.get(peer) === undefined || retries.get(peer)?.timer !== undefined) return
    const delayMs = retries.get(peer)?.delayMs ?? RESUBSCRIBE_FIRST_MS
    const retry: { timer: NodeJS.Timeout | undefined; delayMs: number } = {
      delayMs: Math.min(RESUBSCRIBE_MAX_MS, 2 * delayMs),
      timer: setTimeout(() => {
        retry.timer = undefined
        const current = this.#peers.get(peer)
        if (!this.#started || this.#downloads.get(download.releaseId) !== active) return
        if (current !== undefined) this.#attach(active, current)
      }, delayMs),
    }
    retries.set(peer, retry)
  }

  /**
   * Reports an inbound stream's traffic as a sign of life. Only in the same tick as the handler
   * attaches its own reader: a 'message' listener makes the stream hand out what it buffered.
   */
  #watch(stream: Stream, peer: string): void {
    const report = this.#init.onPeerActivity
    if (report === undefined) return
    stream.addEventListener('message', () => report(peer))
    // a drain while data waits to be sent follows a window update: the peer read what we sent
    stream.addEventListener('drain', () => report(peer))
  }

  #client(peerId: PeerId): ChunkClient {
    const peer = peerId.toString()
    let client = this.#clients.get(peer)
    if (client === undefined) {
      client = new ChunkClient(this.#init.node, peerId, this.#logger, () => {
        this.#init.onPeerActivity?.(peer)
        for (const active of this.#downloads.values()) active.download.noteTraffic(peer)
      })
      this.#clients.set(peer, client)
    }
    return client
  }
}

/** An exchange for one node; call start() once the node runs. */
export function createExchange(init: ExchangeInit): Exchange {
  return new Exchange(init)
}
