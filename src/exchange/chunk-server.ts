import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { chunkCount } from '../release/index.js'
import { shortId } from '../util/hex.js'
import { CHUNK_PROTOCOL, MAX_CONTROL_MESSAGE_BYTES } from './constants.js'
import { ProtocolViolationError, UploadStalledError } from './errors.js'
import { FrameReader, waitForDrain } from './framing.js'
import {
  chunkDataFrame,
  chunkRequest,
  FrameKind,
  frameKind,
  jsonFrame,
  parseJson,
  type ChunkRefusal,
} from './messages.js'
import type { ExchangeLogger, ExchangeStore, ReleaseBook, ReleaseContent } from './types.js'
import type { UploadLimiter } from './upload-limiter.js'
import { UploadQueue, type QueuedUpload } from './upload-queue.js'

/** A chunk that leaves slower than this is abandoned (see uploadDeadlineMs): 32 KiB/s. */
const MIN_UPLOAD_BYTES_PER_SECOND = 32 * 1024

/** Bytes and chunks served, in total and per peer: who carried the load. */
export interface UploadStats {
  bytesServed: number
  chunksServed: number
  /** peer id string → bytes served to it */
  bytesServedByPeer: Record<string, number>
  /** requests being served right now */
  activeUploads: number
  /** most requests ever served at once */
  peakConcurrentUploads: number
}

export interface ChunkServerInit {
  store: ExchangeStore
  book: ReleaseBook
  limiter: UploadLimiter
  /** false when this device must not serve the release (the seed-only baseline) */
  mayServe(releaseId: string): boolean
  /** requests one stream may have waiting; more is a violation */
  maxPipelinedRequests: number
  /**
   * A chunk was taken by the stream to `peer` in full: larger than a yamux window, it needed window
   * updates from the peer's process, so the peer is alive even when its pongs are slow.
   */
  onDelivered?(peer: string): void
  /**
   * Whether this device is where the release entered the floor (it was seeded here). Such a device
   * answers "elsewhere" to a request for a chunk it has sent already while first copies of other
   * chunks are waiting or on their way: every byte of the release crosses its one link at least
   * once, and each second copy it sends before the last first one delays the whole floor.
   * @default () => false
   */
  isOrigin?(releaseId: string): boolean
  /** A chunk begins its way to a peer: others had better ask for different ones first. */
  onHandOut?(sha256: string, index: number): void
  /**
   * Longest a chunk may take to leave for its peer, at least; a larger chunk gets more, at
   * MIN_UPLOAD_BYTES_PER_SECOND. A peer that stops reading would otherwise hold an upload slot,
   * and with it a share of this device's uploads, for as long as its connection lasts.
   */
  uploadDeadlineMs: number
  logger: ExchangeLogger
}

interface Pending extends QueuedUpload {
  id: number
  releaseId: string
  sha256: string
  index: number
  stream: Stream
  /** cancelled by the asker, or answered "elsewhere" in favour of a rarer chunk */
  cancelled: boolean
  /** aborted with `cancelled`, or when the stream closes: ends a wait for an upload slot */
  readonly ended: AbortController
}

/**
 * Serves chunks of accepted releases over one long-lived stream per peer: requests are pipelined
 * and taken in order, each one only when the upload limiter gives a slot, and the next chunk is
 * not read from the store before the stream has taken the previous one. Requests waiting for a
 * slot, over all streams, are as many as the limiter has wait places (UploadQueue): past that a
 * request is answered at once, "busy" or "elsewhere", so its asker turns to another peer
 * instead of waiting, and a request for a chunk this device has handed out fewer times may take
 * the place of one for a chunk it has handed out more. Chunks served fewer times get free slots
 * first.
 */
export class ChunkServer {
  readonly #init: ChunkServerInit
  readonly #objectsOf = new WeakMap<ReleaseContent, Map<string, number>>()
  readonly #byPeer = new Map<string, number>()
  /** requests taken in on every stream and not yet given a slot, and copies handed out */
  readonly #waiting: UploadQueue<Pending>
  #bytesServed = 0
  #chunksServed = 0
  /** uploads under way of a chunk's first copy from here */
  #firstCopiesActive = 0

  constructor(init: ChunkServerInit) {
    this.#init = init
    this.#waiting = new UploadQueue(Math.max(1, init.limiter.maxWaiting))
  }

  stats(): UploadStats {
    return {
      bytesServed: this.#bytesServed,
      chunksServed: this.#chunksServed,
      bytesServedByPeer: Object.fromEntries(this.#byPeer),
      activeUploads: this.#init.limiter.active,
      peakConcurrentUploads: this.#init.limiter.peak,
    }
  }

  /** Takes over an inbound chunk stream from `peer`. Never throws. */
  handle(stream: Stream, peer: string): void {
    const queue: Pending[] = []
    const closed = new AbortController()
    let serving: Promise<void> | undefined
    const log = this.#init.logger

    const stop = (err: Error): void => {
      if (closed.signal.aborted) return
      closed.abort(err)
      for (const request of queue) this.#end(request)
      queue.length = 0
      if (err instanceof ProtocolViolationError) {
        log.warn({ peer, err: err.message }, 'closing chunk stream: peer broke the protocol')
      } else if (err instanceof UploadStalledError) {
        log.warn({ peer, err: err.message }, 'closing chunk stream: peer stopped reading')
      }
      stream.abort(err)
    }

    // one chunk at a time per stream: the next is read only once the stream took the last one
    const serveQueue = async (): Promise<void> => {
      try {
        for (let next = queue[0]; next !== undefined; next = queue[0]) {
          try {
            await this.#serveOne(stream, peer, next, closed.signal)
          } finally {
            queue.shift()
            this.#end(next)
          }
        }
      } catch (err) {
        if (!closed.signal.aborted) stop(err as Error)
      } finally {
        serving = undefined
      }
    }

    const onFrame = (frame: Uint8ArrayList): void => {
      if (frameKind(CHUNK_PROTOCOL, frame) !== FrameKind.Json) {
        throw new ProtocolViolationError(CHUNK_PROTOCOL, 'expected a request')
      }
      const message = parseJson(CHUNK_PROTOCOL, frame, chunkRequest)
      if (message.t === 'cancel') {
        const pending = queue.find(item => item.id === message.id)
        if (pending !== undefined) this.#end(pending)
        return
      }
      if (queue.length >= this.#init.maxPipelinedRequests) {
        throw new ProtocolViolationError(
          CHUNK_PROTOCOL,
          `more than ${this.#init.maxPipelinedRequests} requests waiting`,
        )
      }
      const request: Pending = {
        key: `${message.o}:${message.i}`,
        id: message.id,
        releaseId: message.r,
        sha256: message.o,
        index: message.i,
        stream,
        cancelled: false,
        ended: new AbortController(),
      }
      if (this.#leavesToPeers(request)) {
        this.#refuse(stream, request, 'elsewhere')
        return
      }
      // a request that cannot be served soon hears so at once, whatever stream it came on,
      // instead of waiting behind this stream's earlier requests
      const admission = this.#waiting.offer(request)
      if (!admission.admitted) {
        this.#refuse(stream, request, admission.reason)
        return
      }
      const displaced = admission.displaced
      if (displaced !== undefined) {
        this.#end(displaced)
        try {
          this.#refuse(displaced.stream, displaced, 'elsewhere')
        } catch (err) {
          // that stream's own reader will see it failing; this one is not at fault
          log.debug({ peer, err: (err as Error).message }, 'could not answer a displaced request')
        }
      }
      queue.push(request)
      serving ??= serveQueue()
    }

    const reader = new FrameReader(stream, {
      protocol: CHUNK_PROTOCOL,
      maxFrameBytes: MAX_CONTROL_MESSAGE_BYTES + 1,
      onFrame: frame => {
        try {
          onFrame(frame)
        } catch (err) {
          reader.detach()
          stop(err as Error)
        }
      },
      onError: err => stop(err),
      onEnd: () => {
        // the client is done asking: finish what is queued, then close our side
        void (serving ?? Promise.resolve()).then(() => {
          if (!closed.signal.aborted) stream.close().catch(() => {})
        })
      },
    })
  }

  /**
   * An origin's second copy of a chunk, asked while first copies of others are waiting or being
   * sent: the peer that got the first copy serves it instead. With no first copy in demand (the
   * floor has them all, or a delta needs only some chunks) every request is served as usual.
   */
  #leavesToPeers(request: Pending): boolean {
    // a copy promised to a request already queued counts: two first copies of one chunk would
    // otherwise both be served
    if (this.#waiting.copiesOutOrPromised(request.key) === 0) return false
    if (this.#firstCopiesActive === 0 && !this.#waiting.hasFirstCopyWaiting()) return false
    return this.#init.isOrigin?.(request.releaseId) ?? false
  }

  /** A request is over or will not be served: it gives up its wait place at once. */
  #end(request: Pending): void {
    request.cancelled = true
    this.#waiting.remove(request)
    request.ended.abort()
  }

  async #serveOne(
    stream: Stream,
    peer: string,
    request: Pending,
    signal: AbortSignal,
  ): Promise<void> {
    if (request.cancelled) return
    const release = this.#init.book
    const content = this.#init.mayServe(request.releaseId)
      ? await release.servable(request.releaseId)
      : undefined
    if (request.cancelled) return
    if (content === undefined) return this.#refuse(stream, request, 'not-servable')
    const size = this.#objectSizes(content).get(request.sha256)
    if (size === undefined || request.index >= chunkCount(size, content.chunkBytes)) {
      return this.#refuse(stream, request, 'bad-request')
    }

    const rank = (): number => this.#waiting.handedOut(request.key)
    const slot = this.#init.limiter.acquire(rank, request.ended.signal)
    if (slot === undefined) return this.#refuse(stream, request, 'busy')
    let done: () => void
    try {
      done = await slot
    } catch (err) {
      // cancelled or displaced while it waited: whoever ended it has answered for it
      if (request.cancelled) return
      throw err
    }
    const firstCopy = this.#waiting.handedOut(request.key) === 0
    let handedOut = false
    let delivered = false
    try {
      if (request.cancelled || signal.aborted) return
      handedOut = this.#waiting.handOut(request)
      if (handedOut && firstCopy) this.#firstCopiesActive++
      this.#init.onHandOut?.(request.sha256, request.index)
      const bytes = await this.#init.store.readChunk(
        request.sha256,
        request.index,
        content.chunkBytes,
      )
      if (bytes === undefined) return this.#refuse(stream, request, 'missing')
      try {
        await this.#init.limiter.throttle(
          bytes.byteLength,
          AbortSignal.any([signal, request.ended.signal]),
        )
      } catch (err) {
        // cancelled while it waited for its turn under the rate cap: nothing was sent or counted
        if (request.cancelled) return
        throw err
      }
      if (request.cancelled || signal.aborted) return
      const accepted = stream.send(chunkDataFrame(request.id, bytes))
      if (!accepted) await this.#waitUntilTaken(stream, peer, bytes.byteLength, signal)
      // counted once the stream took it all: a transfer cut short is not load carried
      this.#bytesServed += bytes.byteLength
      this.#chunksServed++
      this.#byPeer.set(peer, (this.#byPeer.get(peer) ?? 0) + bytes.byteLength)
      delivered = true
      this.#init.onDelivered?.(peer)
    } finally {
      if (handedOut && !delivered) this.#waiting.takeBack(request.key)
      if (handedOut && firstCopy) this.#firstCopiesActive--
      done()
    }
  }

  /**
   * Waits until the stream has taken a chunk sent on it. Bytes once sent cannot be taken back, so
   * a chunk that misses its deadline ends the stream (UploadStalledError) and its upload slot.
   */
  async #waitUntilTaken(
    stream: Stream,
    peer: string,
    bytes: number,
    signal: AbortSignal,
  ): Promise<void> {
    const byRate = (bytes * 1000) / MIN_UPLOAD_BYTES_PER_SECOND
    const deadlineMs = Math.max(this.#init.uploadDeadlineMs, byRate)
    const deadline = AbortSignal.timeout(deadlineMs)
    try {
      await waitForDrain(stream, AbortSignal.any([signal, deadline]))
    } catch (err) {
      if (deadline.aborted && !signal.aborted) throw new UploadStalledError(peer, bytes, deadlineMs)
      throw err
    }
  }

  #refuse(stream: Stream, request: Pending, code: ChunkRefusal): void {
    this.#init.logger.debug(
      { release: request.releaseId, object: shortId(request.sha256), chunk: request.index, code },
      'chunk request refused',
    )
    stream.send(jsonFrame({ t: 'err', id: request.id, code }))
  }

  #objectSizes(content: ReleaseContent): Map<string, number> {
    let sizes = this.#objectsOf.get(content)
    if (sizes === undefined) {
      sizes = new Map(content.objects.map(object => [object.sha256, object.size]))
      this.#objectsOf.set(content, sizes)
    }
    return sizes
  }
}
