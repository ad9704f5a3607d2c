import type { PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { CHUNK_PROTOCOL, MAX_CHUNK_BYTES } from './constants.js'
import { ChunkRefusedError, PeerStreamClosedError, ProtocolViolationError } from './errors.js'
import { FrameReader } from './framing.js'
import { chunkError, FrameKind, frameKind, jsonFrame, parseJson } from './messages.js'
import type { ExchangeLogger, ExchangeNode } from './types.js'

/** Opening the stream (protocol negotiation on an existing connection) gives up after this. */
const OPEN_TIMEOUT_MS = 10_000

/** Ids of cancelled requests remembered, so a chunk already on its way is not taken for a lie. */
const REMEMBERED_CANCELLED = 1024

interface Waiting {
  sha256: string
  index: number
  resolve(bytes: Uint8ArrayList): void
  reject(err: Error): void
}

interface OpenStream {
  stream: Stream
  waiting: Map<number, Waiting>
}

/**
 * Asks one peer for chunks over a single long-lived stream, any number of requests in flight
 * (the caller bounds them: that window is the receive backpressure). Answers may come in any
 * order; each carries its request's id. A stream that fails fails its waiting requests and the
 * next request opens a new one.
 */
export class ChunkClient {
  #open: Promise<OpenStream> | undefined
  #nextId = 1
  readonly #cancelled = new Set<number>()
  #closed = false

  constructor(
    private readonly node: ExchangeNode,
    readonly peerId: PeerId,
    private readonly logger: ExchangeLogger,
    /** called whenever bytes arrive from the peer: it is alive and sending */
    private readonly onTraffic?: () => void,
  ) {}

  /**
   * One chunk of an object of a release, as the pieces it arrived in (not joined: the store
   * hashes and writes them as they are); rejects with ChunkRefusedError when the peer says no.
   */
  async fetch(
    releaseId: string,
    sha256: string,
    index: number,
    signal: AbortSignal,
  ): Promise<Uint8ArrayList> {
    signal.throwIfAborted()
    const open = await this.#stream()
    const id = this.#nextId
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    const { promise, resolve, reject } = Promise.withResolvers<Uint8ArrayList>()
    open.waiting.set(id, { sha256, index, resolve, reject })
    const onAbort = (): void => {
      if (!open.waiting.delete(id)) return
      this.#rememberCancelled(id)
      try {
        open.stream.send(jsonFrame({ t: 'cancel', id }))
      } catch {
        // the stream is already gone: nothing to cancel
      }
      reject(signal.reason as Error)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      open.stream.send(jsonFrame({ t: 'get', id, r: releaseId, o: sha256, i: index }))
      return await promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** Closes the stream; waiting requests fail. */
  close(): void {
    this.#closed = true
    const open = this.#open
    this.#open = undefined
    void open?.then(
      ({ stream }) =>
        stream.abort(new PeerStreamClosedError(this.peerId.toString(), CHUNK_PROTOCOL)),
      () => {},
    )
  }

  #stream(): Promise<OpenStream> {
    if (this.#closed) {
      return Promise.reject(new PeerStreamClosedError(this.peerId.toString(), CHUNK_PROTOCOL))
    }
    if (this.#open === undefined) {
      const opening = this.#dial(AbortSignal.timeout(OPEN_TIMEOUT_MS))
      this.#open = opening
      opening.catch(() => {
        if (this.#open === opening) this.#open = undefined
      })
    }
    return this.#open
  }

  async #dial(signal: AbortSignal): Promise<OpenStream> {
    const stream = await this.node.dialProtocol(this.peerId, CHUNK_PROTOCOL, { signal })
    const open: OpenStream = { stream, waiting: new Map() }
    const peer = this.peerId.toString()

    const fail = (err: Error): void => {
      if (this.#open !== undefined) {
        void this.#open.then(current => {
          if (current === open) this.#open = undefined
        })
      }
      const closedError = new PeerStreamClosedError(peer, CHUNK_PROTOCOL, { cause: err })
      for (const waiting of open.waiting.values()) waiting.reject(closedError)
      open.waiting.clear()
      if (err instanceof ProtocolViolationError) {
        this.logger.warn(
          { peer, err: err.message },
          'closing chunk stream: peer broke the protocol',
        )
        stream.abort(err)
      }
    }

    const onFrame = (frame: Uint8ArrayList): void => {
      const kind = frameKind(CHUNK_PROTOCOL, frame)
      if (kind === FrameKind.ChunkData && frame.byteLength >= 5) {
        const id = frame.getUint32(1)
        const waiting = open.waiting.get(id)
        if (waiting === undefined) return this.#unexpected(id)
        open.waiting.delete(id)
        waiting.resolve(frame.sublist(5))
        return
      }
      if (kind === FrameKind.Json) {
        const refusal = parseJson(CHUNK_PROTOCOL, frame, chunkError)
        const waiting = open.waiting.get(refusal.id)
        if (waiting === undefined) return this.#unexpected(refusal.id)
        open.waiting.delete(refusal.id)
        waiting.reject(new ChunkRefusedError(peer, waiting.sha256, waiting.index, refusal.code))
        return
      }
      throw new ProtocolViolationError(CHUNK_PROTOCOL, `unexpected frame kind ${kind}`)
    }

    const reader = new FrameReader(stream, {
      protocol: CHUNK_PROTOCOL,
      maxFrameBytes: MAX_CHUNK_BYTES + 5,
      ...(this.onTraffic && { onBytes: this.onTraffic }),
      onFrame: frame => {
        try {
          onFrame(frame)
        } catch (err) {
          reader.detach()
          fail(err as Error)
        }
      },
      onError: err => fail(err),
      onEnd: () => fail(new Error('peer closed the chunk stream')),
    })
    return open
  }

  /** An answer to no request we know: late for a cancelled one is fine, anything else a lie. */
  #unexpected(id: number): void {
    // each cancelled request excuses one late answer, so a peer cannot stream unasked data
    if (this.#cancelled.delete(id)) return
    throw new ProtocolViolationError(CHUNK_PROTOCOL, `answer to unknown request ${id}`)
  }

  #rememberCancelled(id: number): void {
    this.#cancelled.add(id)
    if (this.#cancelled.size > REMEMBERED_CANCELLED) {
      const oldest = this.#cancelled.values().next().value
      if (oldest !== undefined) this.#cancelled.delete(oldest)
    }
  }
}
