import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { chunkCount } from '../release/index.js'
import { shortId } from '../util/hex.js'
import { CHUNK_PROTOCOL, MAX_CONTROL_MESSAGE_BYTES } from './constants.js'
import { ProtocolViolationError } from './errors.js'
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
  logger: ExchangeLogger
}

interface Pending {
  id: number
  releaseId: string
  sha256: string
  index: number
  cancelled: boolean
}

/**
 * Serves chunks of accepted releases over one long-lived stream per peer: requests are pipelined
 * and taken in order, each one only when the upload limiter gives a slot, and the next chunk is
 * not read from the store before the stream has taken the previous one. A request that finds as
 * many requests taken in (over all streams) as there are slots and wait places is answered
 * "busy" at once, so its asker turns to another peer instead of waiting. Chunks served fewer
 * times get free slots first.
 */
export class ChunkServer {
  readonly #init: ChunkServerInit
  readonly #objectsOf = new WeakMap<ReleaseContent, Map<string, number>>()
  readonly #byPeer = new Map<string, number>()
  /** requests taken in on every stream and not yet answered: bounded by slots + wait places */
  #admitted = 0
  /** `<sha256>:<chunk>` → times this device began serving that chunk: the upload rank */
  readonly #timesServed = new Map<string, number>()
  #bytesServed = 0
  #chunksServed = 0

  constructor(init: ChunkServerInit) {
    this.#init = init
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
      this.#admitted -= queue.length
      queue.length = 0
      if (err instanceof ProtocolViolationError) {
        log.warn({ peer, err: err.message }, 'closing chunk stream: peer broke the protocol')
      }
      stream.abort(err)
    }

    // one chunk at a time per stream: the next is read only once the stream took the last one
    const serveQueue = async (): Promise<void> => {
      try {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          try {
            await this.#serveOne(stream, peer, next, closed.signal)
          } finally {
            this.#admitted--
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
        if (pending !== undefined) pending.cancelled = true
        return
      }
      if (queue.length >= this.#init.maxPipelinedRequests) {
        throw new ProtocolViolationError(
          CHUNK_PROTOCOL,
          `more than ${this.#init.maxPipelinedRequests} requests waiting`,
        )
      }
      const request: Pending = {
        id: message.id,
        releaseId: message.r,
        sha256: message.o,
        index: message.i,
        cancelled: false,
      }
      // a request that cannot be served soon hears "busy" at once, whatever stream it came on,
      // instead of waiting behind this stream's earlier requests
      const { maxConcurrent, maxWaiting } = this.#init.limiter
      if (this.#admitted >= maxConcurrent + maxWaiting) {
        this.#refuse(stream, request, 'busy')
        return
      }
      this.#admitted++
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
    if (content === undefined) return this.#refuse(stream, request, 'not-servable')
    const size = this.#objectSizes(content).get(request.sha256)
    if (size === undefined || request.index >= chunkCount(size, content.chunkBytes)) {
      return this.#refuse(stream, request, 'bad-request')
    }

    const key = `${request.sha256}:${request.index}`
    const slot = this.#init.limiter.acquire(() => this.#timesServed.get(key) ?? 0, signal)
    if (slot === undefined) return this.#refuse(stream, request, 'busy')
    const done = await slot
    try {
      if (request.cancelled || signal.aborted) return
      this.#timesServed.set(key, (this.#timesServed.get(key) ?? 0) + 1)
      const bytes = await this.#init.store.readChunk(
        request.sha256,
        request.index,
        content.chunkBytes,
      )
      if (bytes === undefined) return this.#refuse(stream, request, 'missing')
      await this.#init.limiter.throttle(bytes.byteLength, signal)
      if (request.cancelled || signal.aborted) return
      const accepted = stream.send(chunkDataFrame(request.id, bytes))
      if (!accepted) await waitForDrain(stream, signal)
      // counted once the stream took it all: a transfer cut short is not load carried
      this.#bytesServed += bytes.byteLength
      this.#chunksServed++
      this.#byPeer.set(peer, (this.#byPeer.get(peer) ?? 0) + bytes.byteLength)
      this.#init.onDelivered?.(peer)
    } finally {
      done()
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
