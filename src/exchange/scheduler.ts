import { EventEmitter } from 'node:events'
import type { Uint8ArrayList } from 'uint8arraylist'
import { shortId } from '../util/hex.js'
import { hasBit } from './bitmap.js'
import { ChunkState, ChunkTable, type TableObject } from './chunk-table.js'
import { MAX_CHUNK_BYTES } from './constants.js'
import { downloadOptions } from './download-options.js'
import { DownloadPeer } from './download-peer.js'
import { RateEstimate } from './rate-estimate.js'
import type {
  BanEvent,
  BanReason,
  ChunkFetcher,
  DownloadEvents,
  DownloadOptions,
  DownloadStats,
} from './download-types.js'
import {
  ChunkRefusedError,
  ChunkWriteError,
  DownloadCancelledError,
  NoSourceError,
  UnsupportedChunkSizeError,
} from './errors.js'
import type { ExchangeLogger, ExchangeStore, ReleaseContent } from './types.js'

/** An answer is late (and may be asked of a second peer) after this many times its expected time… */
const ENDGAME_LATE_FACTOR = 2
/** …and never before this. */
const ENDGAME_MIN_WAIT_MS = 50
/** A request that timed out is cancelled after this many times its timeout more. */
const HARD_TIMEOUT_FACTOR = 2
/**
 * Requests outstanding over all peers at least, whatever the measured rate: enough to draw on
 * several peers at once, each of which may give this device only a share of its upload.
 */
const MIN_WINDOW_REQUESTS = 4
/**
 * Time's worth of this device's download rate kept outstanding over all peers: part of it waits
 * in uploaders' queues, and a window that only just covers the rate measured would never let the
 * rate grow past what it already is.
 */
const WINDOW_TARGET_MS = 4000
/**
 * How long "a peer is fetching this chunk" counts: a fetch that takes longer is not waited for.
 * On a crowded floor a chunk waits seconds for an upload slot before its bytes start to move.
 */
const PENDING_TTL_MS = 8000
/**
 * A peer that answered "elsewhere" (it handed that chunk to another peer already) is not asked for
 * it again before this: by then the other copy may be served, or the peer's rarer chunks are out.
 */
const ELSEWHERE_RETRY_MS = 1000
/**
 * The tie-break of a fast download from one usable peer: none, so equally rare chunks go in the
 * order they were first wanted, which is release order. Chunks in order let the store take the
 * whole object's hash from memory as they land; in random order it can take only the first few
 * (the hash must go in order) and reads the rest back from disk after the last chunk arrived:
 * ~200 MiB read and hashed at the end of a 256 MiB download at ~150 MiB/s (~0.2 s, while the
 * transfer stood still). The random tie-break spreads devices that ask the same peers over
 * different chunks, so they have something to trade; a device that knows only the seed as yet
 * (mDNS still finding the rest of the floor) keeps it, and so does any download slower than
 * IN_ORDER_MIN_BYTES_PER_SECOND, where that tail is a small part of the time.
 */
const IN_ORDER = (): number => 0
/**
 * 32 MiB/s: the tail that random order costs (~1.3 ms per MiB read back and hashed) is ~4 % of
 * the transfer time here, and under 1 % on a floor of 5-10 Mbit/s links (spread bench).
 */
const IN_ORDER_MIN_BYTES_PER_SECOND = 32 * 1024 * 1024

interface Request {
  chunk: number
  peer: DownloadPeer
  bytes: number
  startedAt: number
  /** after this (performance.now() time) the answer is late and may be asked of another peer */
  lateAt: number
  controller: AbortController
  timer: NodeJS.Timeout | undefined
  timeoutMs: number
  /** bytes outstanding at that peer when it was asked, its own included */
  queuedBytes: number
  /** timed out once: the chunk is asked elsewhere too, this request may still answer */
  late: boolean
  /** given a second timeout once because the peer was still sending when the first expired */
  extended: boolean
  /** settled: answered, failed, timed out or cancelled; later outcomes are ignored */
  settled: boolean
}

export interface DownloadInit {
  releaseId: string
  release: ReleaseContent
  store: ExchangeStore
  options?: DownloadOptions
  logger?: ExchangeLogger
}

/**
 * One download of one release: rarest chunk first over every peer whose have-map shows it, a
 * bounded number of requests per peer, timeouts sized to the peer's rate, duplicate requests in
 * the endgame, every chunk verified against the release before it is written, and a peer that
 * sends a bad chunk banned for this release. Peers and their have-maps are fed in from outside,
 * so this class does no networking of its own.
 */
export class Download extends EventEmitter<DownloadEvents> {
  readonly releaseId: string
  /** resolves with the counters when every object is complete; rejects on failure or cancel */
  readonly done: Promise<DownloadStats>
  readonly #opts: Required<DownloadOptions>
  readonly #store: ExchangeStore
  readonly #logger: ExchangeLogger | undefined
  readonly #table: ChunkTable
  /** requests outstanding over all peers, at most: maxInFlightTotal, or fewer for large chunks */
  readonly #maxInFlight: number
  /** this device's download rate over all peers: sizes the window of requests outstanding */
  readonly #rate = new RateEstimate()
  readonly #requests = new Map<number, Request[]>()
  readonly #peers = new Map<string, DownloadPeer>()
  #inFlight = 0
  #started = false
  #finished = false
  #pumpQueued = false
  #waitingReported = false
  #noSourceTimer: NodeJS.Timeout | undefined
  #wakeTimer: NodeJS.Timeout | undefined
  #wakeTime = 0
  readonly #stats: DownloadStats
  readonly #resolve: (stats: DownloadStats) => void
  readonly #reject: (err: Error) => void

  constructor(init: DownloadInit) {
    super()
    const { release } = init
    if (
      !Number.isInteger(release.chunkBytes) ||
      release.chunkBytes < 1 ||
      release.chunkBytes > MAX_CHUNK_BYTES
    ) {
      throw new UnsupportedChunkSizeError(release.chunkBytes, MAX_CHUNK_BYTES)
    }
    this.releaseId = init.releaseId
    this.#store = init.store
    this.#logger = init.logger
    this.#opts = downloadOptions(init.options ?? {})
    this.#table = new ChunkTable(release)
    const { maxInFlightTotal, maxInFlightBytes } = this.#opts
    this.#maxInFlight = Math.max(
      1,
      Math.min(maxInFlightTotal, Math.floor(maxInFlightBytes / release.chunkBytes)),
    )
    this.#stats = {
      releaseId: init.releaseId,
      chunksDone: 0,
      chunksTotal: this.#table.total,
      bytesDone: 0,
      bytesTotal: this.#table.bytesTotal,
      chunksHeldAtStart: 0,
      requests: 0,
      duplicateRequests: 0,
      duplicateBytes: 0,
      cancelledRequests: 0,
      timeouts: 0,
      bytesReceivedByPeer: {},
      bans: [],
    }
    const { promise, resolve, reject } = Promise.withResolvers<DownloadStats>()
    this.done = promise
    this.#resolve = resolve
    this.#reject = reject
    // a caller that only listens to events must not crash the process on failure
    promise.catch(() => {})
  }

  /** Opens the objects in the store (resuming what is there) and starts asking peers. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    try {
      for (const object of this.#table.objects) {
        if (await this.#store.has(object.sha256)) {
          for (let i = 0; i < object.chunkCount; i++) this.#table.markHeld(object, i)
          continue
        }
        const partial = await this.#store.openPartial({
          sha256: object.sha256,
          size: object.size,
          chunkBytes: this.#table.release.chunkBytes,
          chunkSha256: object.chunks,
        })
        if (this.#finished) {
          await partial.close()
          return
        }
        object.partial = partial
        for (let i = 0; i < object.chunkCount; i++) {
          if (partial.has(i)) this.#table.markHeld(object, i)
          else this.#table.want(object.offset + i)
        }
        if (object.heldChunks === object.chunkCount) await this.#closePartial(object)
      }
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    this.#stats.chunksHeldAtStart = this.#table.chunksDone
    this.#logger?.info(
      { releaseId: this.releaseId, chunks: this.#table.total, held: this.#table.chunksDone },
      'download started',
    )
    await this.#checkComplete()
    this.#pump()
  }

  /** Adds a peer (or gives a known one a new fetcher). A peer banned from this download stays out. */
  addPeer(peer: string, fetcher: ChunkFetcher): void {
    const known = this.#peers.get(peer)
    if (known !== undefined) {
      if (known.banned !== undefined) return
      const wasUsable = known.usable
      known.fetcher = fetcher
      if (!wasUsable) this.#table.countPeer(known, 1)
    } else {
      const created = new DownloadPeer(
        peer,
        this.#table.total,
        this.#opts.maxInFlightPerPeer,
        this.#table.release.chunkBytes,
        this.#opts.initialRateBytesPerSecond,
      )
      created.fetcher = fetcher
      this.#peers.set(peer, created)
    }
    this.#schedulePump()
  }

  /** Merges a peer's bitmap for one object (bit i = chunk i, LSB first). */
  peerHasObject(peer: string, objectIndex: number, bitmap: Uint8Array): void {
    const state = this.#peers.get(peer)
    const object = this.#table.objects[objectIndex]
    if (state === undefined || object === undefined) return
    for (let i = 0; i < object.chunkCount; i++) {
      if (hasBit(bitmap, i)) this.#table.learn(state, object.offset + i)
    }
    this.#schedulePump()
  }

  /** Records that a peer now holds one chunk. */
  peerHasChunk(peer: string, objectIndex: number, chunkIndex: number): void {
    const state = this.#peers.get(peer)
    const object = this.#table.objects[objectIndex]
    if (state === undefined || object === undefined) return
    if (chunkIndex < 0 || chunkIndex >= object.chunkCount) return
    this.#table.learn(state, object.offset + chunkIndex)
    this.#schedulePump()
  }

  /**
   * Records that a peer is fetching a chunk right now (from someone): for a while that chunk ranks
   * as nearly held by it, so this download asks for other chunks first.
   */
  peerIsFetching(peer: string, objectIndex: number, chunkIndex: number): void {
    const object = this.#table.objects[objectIndex]
    if (!this.#peers.has(peer) || object === undefined) return
    if (chunkIndex < 0 || chunkIndex >= object.chunkCount) return
    this.#table.notePending(object.offset + chunkIndex, performance.now() + PENDING_TTL_MS)
  }

  /** A peer went away: its requests go elsewhere. A banned peer is remembered as banned. */
  removePeer(peer: string): void {
    const state = this.#peers.get(peer)
    if (state === undefined) return
    if (state.banned === undefined) {
      if (state.usable) this.#table.countPeer(state, -1)
      this.#peers.delete(peer)
    }
    state.fetcher = undefined
    this.#abortRequestsOf(state)
    this.#schedulePump()
  }

  /**
   * Bytes are arriving on the chunk stream from `peer` (any answer to this download or another):
   * it is slow, not stalled, so a request of it that runs out of time gets one more.
   */
  noteTraffic(peer: string): void {
    const state = this.#peers.get(peer)
    if (state !== undefined) state.lastTrafficAt = performance.now()
  }

  isBanned(peer: string): boolean {
    return this.#peers.get(peer)?.banned !== undefined
  }

  get finished(): boolean {
    return this.#finished
  }

  /** Stops the download: requests are cancelled, written chunks stay for a later resume. */
  cancel(): void {
    this.#fail(new DownloadCancelledError(this.releaseId))
  }

  stats(): DownloadStats {
    return {
      ...this.#stats,
      chunksDone: this.#table.chunksDone,
      bytesDone: this.#table.bytesDone,
      bytesReceivedByPeer: { ...this.#stats.bytesReceivedByPeer },
      bans: [...this.#stats.bans],
    }
  }

  #schedulePump(): void {
    if (this.#pumpQueued || this.#finished) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      this.#pump()
    })
  }

  /**
   * Fills free request slots. Peers take turns, one request each per round, so no peer grabs
   * all the rare chunks; chunks a peer has failed on go to it only in a second phase, when no
   * other peer took them.
   */
  #pump(): void {
    if (!this.#started || this.#finished) return
    const now = performance.now()
    const rate = this.#rate.bytesPerSecond(this.#opts.initialRateBytesPerSecond)
    const window = this.#window(rate)
    const inOrder = this.#usablePeerCount() === 1 && rate >= IN_ORDER_MIN_BYTES_PER_SECOND
    const tieBreak = inOrder ? IN_ORDER : this.#opts.random
    for (const allowAvoided of [false, true]) {
      let progressed = true
      while (progressed && this.#inFlight < window) {
        progressed = false
        for (const peer of this.#shuffledPeers(now)) {
          if (this.#inFlight >= window) break
          if (peer.freeSlots(now) === 0) continue
          const skip = (chunk: number): boolean =>
            peer.isDeferred(chunk, now) ||
            (this.#requests.get(chunk)?.some(request => request.peer === peer) ?? false)
          const rare = this.#table.pickRarest(peer, allowAvoided, tieBreak, now, skip)
          if (rare !== undefined) {
            this.#issue(peer, rare, false)
            progressed = true
            continue
          }
          if (this.#table.wanted.size > 0) continue
          const slow = this.#pickEndgame(peer, allowAvoided)
          if (slow !== undefined) {
            this.#issue(peer, slow, true)
            progressed = true
          }
        }
      }
    }
    this.#checkSources()
  }

  /**
   * Requests to keep outstanding over all peers: about WINDOW_TARGET_MS of this device's own
   * download rate. More would only queue behind each other on this device's link (on a slow
   * floor, seconds of it), so every chunk would arrive late, and late everywhere at once, instead
   * of early at one device that can pass it on.
   */
  #window(rate: number): number {
    const byRate = Math.ceil((rate * WINDOW_TARGET_MS) / 1000 / this.#table.release.chunkBytes)
    return Math.min(this.#maxInFlight, Math.max(MIN_WINDOW_REQUESTS, byRate))
  }

  #usablePeerCount(): number {
    let count = 0
    for (const peer of this.#peers.values()) if (peer.usable) count++
    return count
  }

  /**
   * Peers with a free slot at `now`, in random order. A busy peer, and one that deferred chunks,
   * gets a wake-up for when that ends: the one timer keeps only the earliest time, so every pump
   * sets the next one again.
   */
  #shuffledPeers(now: number): DownloadPeer[] {
    const peers: DownloadPeer[] = []
    for (const peer of this.#peers.values()) {
      if (!peer.usable) continue
      if (peer.freeSlots(now) > 0) peers.push(peer)
      else if (peer.busyUntil > now) this.#wakeAt(peer.busyUntil)
      const deferralEnd = peer.nextDeferralEnd(now)
      if (deferralEnd !== undefined) this.#wakeAt(deferralEnd)
    }
    for (let i = peers.length - 1; i > 0; i--) {
      const j = Math.floor(this.#opts.random() * (i + 1))
      ;[peers[i], peers[j]] = [peers[j]!, peers[i]!]
    }
    return peers
  }

  /**
   * Endgame: a chunk already asked elsewhere whose answer is late (the longest-waiting first),
   * asked again here. Only late ones: with a window of many requests per peer, "everything is
   * asked for" comes early, and duplicating all of it would double the traffic.
   */
  #pickEndgame(peer: DownloadPeer, allowAvoided: boolean): number | undefined {
    let best: number | undefined
    let oldest = Infinity
    const now = performance.now()
    for (const [chunk, requests] of this.#requests) {
      if (this.#table.state(chunk) !== ChunkState.Requested || !peer.holds(chunk)) continue
      if (requests.length >= this.#opts.maxRequestsPerChunk) continue
      if (!allowAvoided && peer.avoid.has(chunk)) continue
      if (peer.isDeferred(chunk, now) || requests.some(request => request.peer === peer)) continue
      const first = requests[0]
      if (first === undefined) continue
      if (first.lateAt > now) {
        this.#wakeAt(first.lateAt)
        continue
      }
      if (first.startedAt < oldest) {
        oldest = first.startedAt
        best = chunk
      }
    }
    return best
  }

  /** Pumps again at `at` (a performance.now() time), when a request in flight becomes late. */
  #wakeAt(at: number): void {
    if (this.#wakeTimer !== undefined && this.#wakeTime <= at) return
    if (this.#wakeTimer !== undefined) clearTimeout(this.#wakeTimer)
    this.#wakeTime = at
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeTimer = undefined
        // libuv may fire a timer a little before performance.now() reaches its time
        if (performance.now() < at) this.#wakeAt(at)
        else this.#pump()
      },
      Math.max(1, Math.ceil(at - performance.now())),
    )
  }

  #issue(peer: DownloadPeer, chunk: number, duplicate: boolean): void {
    const { object, chunkIndex, bytes } = this.#table.locate(chunk)
    const { initialRateBytesPerSecond } = this.#opts
    const startedAt = performance.now()
    // the time its answer should take behind what is already queued at that peer
    const expectedMs = ((peer.inFlightBytes + bytes) * 1000) / peer.rate(initialRateBytesPerSecond)
    const request: Request = {
      chunk,
      peer,
      bytes,
      startedAt,
      lateAt: startedAt + Math.max(ENDGAME_MIN_WAIT_MS, ENDGAME_LATE_FACTOR * expectedMs),
      controller: new AbortController(),
      timer: undefined,
      timeoutMs: 0,
      queuedBytes: 0,
      late: false,
      extended: false,
      settled: false,
    }
    this.#table.setState(chunk, ChunkState.Requested)
    const list = this.#requests.get(chunk)
    if (list === undefined) this.#requests.set(chunk, [request])
    else list.push(request)
    peer.begin(bytes, startedAt)
    this.#rate.begin(startedAt)
    request.queuedBytes = peer.inFlightBytes
    this.#inFlight++
    this.#stats.requests++
    if (duplicate) this.#stats.duplicateRequests++
    else
      this.emit('requested', {
        objectIndex: this.#table.objectIndexOf(chunk),
        sha256: object.sha256,
        chunkIndex,
      })

    const { timeoutFloorMs, timeoutFactor } = this.#opts
    const timeoutMs = peer.timeoutMs(timeoutFloorMs, timeoutFactor, initialRateBytesPerSecond)
    request.timeoutMs = timeoutMs
    request.timer = setTimeout(() => this.#onTimeout(request), timeoutMs)
    const fetcher = peer.fetcher!
    fetcher(
      {
        objectIndex: this.#table.objectIndexOf(chunk),
        sha256: object.sha256,
        chunkIndex,
        expectedBytes: bytes,
      },
      request.controller.signal,
    )
      .then(
        data => this.#onData(request, data),
        (err: Error) => this.#onFailure(request, err),
      )
      // a throwing event listener or store must end the download, not the process
      .catch((err: Error) => this.#fail(err))
  }

  /** Frees a request's slot and forgets it; the chunk goes back to wanted if nobody else has it. */
  #release(request: Request, requeue: boolean): void {
    if (request.timer !== undefined) clearTimeout(request.timer)
    request.timer = undefined
    const now = performance.now()
    request.peer.end(request.bytes, now)
    this.#rate.end(now)
    this.#inFlight--
    const list = this.#requests.get(request.chunk)
    if (list !== undefined) {
      const at = list.indexOf(request)
      if (at >= 0) list.splice(at, 1)
      if (list.length === 0) this.#requests.delete(request.chunk)
    }
    const unanswered = !this.#requests.has(request.chunk)
    if (requeue && unanswered && this.#table.state(request.chunk) === ChunkState.Requested) {
      this.#table.want(request.chunk)
    }
  }

  async #onData(request: Request, data: Uint8Array | Uint8ArrayList): Promise<void> {
    if (request.settled || this.#finished) return
    request.settled = true
    if (request.timer !== undefined) clearTimeout(request.timer)
    const { peer, chunk } = request
    const arrivedAt = performance.now()
    peer.noteData(data.byteLength, arrivedAt)
    this.#rate.add(data.byteLength, arrivedAt)
    const byPeer = this.#stats.bytesReceivedByPeer
    byPeer[peer.id] = (byPeer[peer.id] ?? 0) + data.byteLength

    const { object, chunkIndex } = this.#table.locate(chunk)
    const bad = { sha256: object.sha256, chunkIndex }
    if (data.byteLength !== request.bytes) {
      const where = `object ${shortId(object.sha256)} chunk ${chunkIndex}`
      this.#release(request, true)
      this.#ban(
        peer,
        'wrong-size',
        `${where}: expected ${request.bytes} bytes, got ${data.byteLength}`,
        bad,
      )
      this.#schedulePump()
      return
    }
    // a chunk some other peer delivered first: the late copy is only counted
    if (this.#table.state(chunk) >= ChunkState.Writing) {
      this.#stats.duplicateBytes += data.byteLength
      this.#release(request, false)
      this.#schedulePump()
      return
    }

    peer.noteSuccess()
    for (const loser of [...(this.#requests.get(chunk) ?? [])]) {
      // a settled one is being answered right now and will see the chunk is taken
      if (loser === request || loser.settled) continue
      loser.settled = true
      loser.controller.abort(new Error('another peer delivered this chunk first'))
      this.#stats.cancelledRequests++
      this.#release(loser, false)
    }
    this.#table.setState(chunk, ChunkState.Writing)
    try {
      // the store checks the chunk's hash (the one check, for the whole node) and refuses it
      await object.partial!.writeChunk(chunkIndex, data)
    } catch (err) {
      if (!this.#finished && (err as Error).name === 'ChunkMismatchError') {
        // nothing was written: back to requested, so that releasing the request re-wants it
        this.#table.setState(chunk, ChunkState.Requested)
        this.#release(request, true)
        this.#ban(peer, 'bad-hash', (err as Error).message, bad)
        this.#schedulePump()
        return
      }
      this.#fail(new ChunkWriteError(object.sha256, chunkIndex, { cause: err }))
      return
    }
    if (this.#finished) return
    this.#release(request, false)
    this.#table.markHeld(object, chunkIndex)
    this.emit('stored', {
      objectIndex: this.#table.objectIndexOf(chunk),
      sha256: object.sha256,
      chunkIndex,
      peer: peer.id,
    })
    this.emit('progress', {
      chunksDone: this.#table.chunksDone,
      chunksTotal: this.#table.total,
      bytesDone: this.#table.bytesDone,
      bytesTotal: this.#table.bytesTotal,
    })
    if (object.heldChunks === object.chunkCount) await this.#closePartial(object)
    await this.#checkComplete()
    this.#schedulePump()
  }

  #onFailure(request: Request, err: Error): void {
    if (request.settled || this.#finished) return
    request.settled = true
    const { peer, chunk } = request
    this.#release(request, true)
    if (err instanceof ChunkRefusedError && err.reason === 'busy') {
      // no fault: its upload slots are taken; others are asked meanwhile (the pump below finds it
      // busy and sets the wake-up for when it may be asked again)
      peer.noteBusy(performance.now())
    } else if (err instanceof ChunkRefusedError && err.reason === 'elsewhere') {
      // no fault either: another peer has or is getting this chunk from it
      const until = performance.now() + ELSEWHERE_RETRY_MS
      peer.defer(chunk, until)
      this.#wakeAt(until)
    } else if (err instanceof ChunkRefusedError) {
      // the peer's have-map promised more than it serves: believe the refusal
      this.#table.forget(peer, chunk)
    } else {
      peer.avoid.add(chunk)
    }
    this.#logger?.debug(
      { releaseId: this.releaseId, peer: peer.id, err: err.message },
      'chunk request failed',
    )
    this.#schedulePump()
  }

  /**
   * First timeout: if the peer is still sending (answers to earlier requests are arriving), the
   * request gets its time once more. Then the chunk is asked elsewhere at once, but this request
   * stays open in case its answer is merely slow (the bytes may already be on their way). Last,
   * after HARD_TIMEOUT_FACTOR times as long again: it is cancelled.
   */
  #onTimeout(request: Request): void {
    if (request.settled || this.#finished) return
    const { peer, chunk } = request
    const now = performance.now()
    if (!request.extended && now - peer.lastTrafficAt < request.timeoutMs) {
      // queued behind answers still coming in: asking elsewhere now would fetch it twice
      request.extended = true
      request.timer = setTimeout(() => this.#onTimeout(request), request.timeoutMs)
      return
    }
    if (!request.late) {
      request.late = true
      this.#stats.timeouts++
      this.#logger?.debug(
        {
          releaseId: this.releaseId,
          peer: peer.id,
          chunk,
          waitedMs: Math.round(now - request.startedAt),
          timeoutMs: request.timeoutMs,
          queuedBytes: request.queuedBytes,
          extended: request.extended,
        },
        'chunk request timed out',
      )
      peer.noteTimeout(chunk, request.startedAt, request.queuedBytes, now)
      if (peer.consecutiveTimeouts >= this.#opts.maxConsecutiveTimeouts) {
        const detail = `timed out ${peer.consecutiveTimeouts} times in a row, the last time with one request in flight`
        this.#ban(peer, 'stalled', detail)
      } else {
        if (this.#table.state(chunk) === ChunkState.Requested) this.#table.want(chunk)
        request.timer = setTimeout(
          () => this.#onTimeout(request),
          HARD_TIMEOUT_FACTOR * request.timeoutMs,
        )
      }
      this.#schedulePump()
      return
    }
    request.settled = true
    request.timer = undefined
    peer.noteSlow(request.queuedBytes, now - request.startedAt)
    request.controller.abort(new Error('chunk request timed out'))
    this.#release(request, true)
    this.#schedulePump()
  }

  #ban(
    peer: DownloadPeer,
    reason: BanReason,
    detail: string,
    chunk?: { sha256: string; chunkIndex: number },
  ): void {
    if (peer.banned !== undefined) return
    if (peer.usable) this.#table.countPeer(peer, -1)
    peer.banned = reason
    this.#abortRequestsOf(peer)
    const event: BanEvent = { peer: peer.id, reason, detail, ...(chunk && { chunk }) }
    this.#stats.bans.push(event)
    this.#logger?.warn({ releaseId: this.releaseId, ...event }, 'peer banned from download')
    this.emit('ban', event)
  }

  #abortRequestsOf(peer: DownloadPeer): void {
    for (const requests of [...this.#requests.values()]) {
      for (const request of [...requests]) {
        if (request.peer !== peer || request.settled) continue
        request.settled = true
        request.controller.abort(new Error('peer dropped from download'))
        this.#release(request, true)
      }
    }
  }

  /** Notices when nothing missing can be had from anyone: report it, or fail after a while. */
  #checkSources(): void {
    const stuck = this.#inFlight === 0 && this.#table.wanted.size > 0
    if (!stuck) {
      this.#waitingReported = false
      if (this.#noSourceTimer !== undefined) clearTimeout(this.#noSourceTimer)
      this.#noSourceTimer = undefined
      return
    }
    if (this.#opts.waitForPeers) {
      if (!this.#waitingReported) {
        this.#waitingReported = true
        this.#logger?.info(
          { releaseId: this.releaseId, missingChunks: this.#table.wanted.size },
          'download waiting for a peer that holds the missing chunks',
        )
        this.emit('waiting', { missingChunks: this.#table.wanted.size })
      }
      return
    }
    if (this.#noSourceTimer !== undefined) return
    const waitedMs = this.#opts.noSourceTimeoutMs
    this.#noSourceTimer = setTimeout(() => {
      this.#noSourceTimer = undefined
      this.#pump()
      if (this.#inFlight === 0 && this.#table.wanted.size > 0 && !this.#finished) {
        this.#fail(new NoSourceError(this.releaseId, this.#table.wanted.size, waitedMs))
      }
    }, waitedMs)
  }

  async #closePartial(object: TableObject): Promise<void> {
    const partial = object.partial
    object.partial = undefined
    if (partial === undefined) return
    try {
      await partial.close()
    } catch (err) {
      this.#fail(err as Error)
    }
  }

  async #checkComplete(): Promise<void> {
    if (this.#finished || this.#table.chunksDone < this.#table.total) return
    this.#finished = true
    this.#clearTimers()
    const { requests, duplicateRequests, duplicateBytes, cancelledRequests, timeouts } = this.#stats
    this.#logger?.info(
      {
        releaseId: this.releaseId,
        chunks: this.#table.total,
        requests,
        duplicateRequests,
        duplicateBytes,
        cancelledRequests,
        timeouts,
      },
      'download complete',
    )
    this.#resolve(this.stats())
  }

  #fail(err: Error): void {
    if (this.#finished) return
    this.#finished = true
    this.#clearTimers()
    for (const requests of this.#requests.values()) {
      for (const request of requests) {
        request.settled = true
        request.controller.abort(err)
      }
    }
    for (const object of this.#table.objects) void this.#closeQuietly(object)
    this.#logger?.warn({ releaseId: this.releaseId, err: err.message }, 'download stopped')
    this.#reject(err)
  }

  async #closeQuietly(object: TableObject): Promise<void> {
    const partial = object.partial
    object.partial = undefined
    await partial?.close().catch(() => {})
  }

  #clearTimers(): void {
    if (this.#noSourceTimer !== undefined) clearTimeout(this.#noSourceTimer)
    this.#noSourceTimer = undefined
    if (this.#wakeTimer !== undefined) clearTimeout(this.#wakeTimer)
    this.#wakeTimer = undefined
    for (const requests of this.#requests.values()) {
      for (const request of requests) if (request.timer !== undefined) clearTimeout(request.timer)
    }
  }
}
