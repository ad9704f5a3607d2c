import type { MessageStream, StreamMessageEvent } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { MessageTooLargeError } from './errors.js'

/** Bytes of the length prefix in front of every frame (big-endian u32). */
export const FRAME_HEADER_BYTES = 4

/** A length-prefixed frame made of `parts`, without copying them. */
export function encodeFrame(...parts: Uint8Array[]): Uint8ArrayList {
  let length = 0
  for (const part of parts) length += part.byteLength
  const header = new Uint8Array(FRAME_HEADER_BYTES)
  new DataView(header.buffer).setUint32(0, length)
  return new Uint8ArrayList(header, ...parts)
}

export interface FrameReaderInit {
  /** protocol id, for error messages */
  protocol: string
  /** hard limit on one frame's payload; a longer announced length fails before it is buffered */
  maxFrameBytes: number
  /** called once per complete frame, synchronously and in order */
  onFrame(frame: Uint8ArrayList): void
  /** called once when the stream fails or sends something invalid; the reader then stops */
  onError(err: Error): void
  /** called once when the remote closed its writing side with no partial frame pending */
  onEnd(): void
  /** called with every piece of bytes that arrives, before it is cut into frames */
  onBytes?(bytes: number): void
}

/**
 * Cuts a stream's 'message' events into frames. Event-driven (no async iteration) so each frame is
 * handed over as soon as its last byte arrives and nothing piles up in an intermediate queue.
 */
export class FrameReader {
  readonly #buffer = new Uint8ArrayList()
  #expected = -1
  #done = false
  #remoteEnded = false
  /** the frame limit; may be raised or lowered as a protocol moves between steps */
  maxFrameBytes: number

  constructor(
    private readonly stream: MessageStream,
    private readonly init: FrameReaderInit,
  ) {
    this.maxFrameBytes = init.maxFrameBytes
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('remoteCloseWrite', this.#onRemoteClose)
    stream.addEventListener('close', this.#onClose)
  }

  /** Stops reading: no callback is called afterwards. */
  detach(): void {
    this.#done = true
    this.stream.removeEventListener('message', this.#onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.#onRemoteClose)
    this.stream.removeEventListener('close', this.#onClose)
  }

  readonly #onMessage = (event: StreamMessageEvent): void => {
    if (this.#done) return
    this.init.onBytes?.(event.data.byteLength)
    this.#buffer.append(event.data)
    try {
      this.#drainBuffer()
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    if (this.#remoteEnded) this.#maybeEnd()
  }

  #drainBuffer(): void {
    while (!this.#done) {
      if (this.#expected < 0) {
        if (this.#buffer.byteLength < FRAME_HEADER_BYTES) return
        const length = this.#buffer.getUint32(0)
        if (length > this.maxFrameBytes) {
          throw new MessageTooLargeError(this.init.protocol, this.maxFrameBytes, length)
        }
        this.#buffer.consume(FRAME_HEADER_BYTES)
        this.#expected = length
      }
      if (this.#buffer.byteLength < this.#expected) return
      const frame = this.#buffer.sublist(0, this.#expected)
      this.#buffer.consume(this.#expected)
      this.#expected = -1
      this.init.onFrame(frame)
    }
  }

  readonly #onRemoteClose = (): void => {
    if (this.#done) return
    this.#remoteEnded = true
    // 'remoteCloseWrite' comes before the data of the same muxer frame is dispatched: let it run
    setImmediate(() => this.#maybeEnd())
  }

  #maybeEnd(): void {
    if (this.#done || !this.#remoteEnded || this.stream.readBufferLength > 0) return
    if (this.#expected >= 0 || this.#buffer.byteLength > 0) {
      this.#fail(new Error(`${this.init.protocol}: stream ended inside a frame`))
      return
    }
    this.detach()
    this.init.onEnd()
  }

  readonly #onClose = (event: Event & { error?: Error }): void => {
    if (this.#done) return
    if (event.error !== undefined) this.#fail(event.error)
    else this.#onRemoteClose()
  }

  #fail(err: Error): void {
    if (this.#done) return
    this.detach()
    this.init.onError(err)
  }
}

/**
 * Sends bytes and, when the stream says its buffer is full, waits for one 'drain' (or fails on
 * 'close'). `stream.onDrain()` cannot be used for this: in @libp2p/utils 7.4.1 it only waits the
 * first time.
 */
export async function sendWithBackpressure(
  stream: MessageStream,
  bytes: Uint8Array | Uint8ArrayList,
  signal?: AbortSignal,
): Promise<void> {
  if (stream.send(bytes)) return
  await waitForDrain(stream, signal)
}

/** Resolves on the stream's next 'drain'; rejects when it closes or `signal` aborts. */
export function waitForDrain(stream: MessageStream, signal?: AbortSignal): Promise<void> {
  if (!stream.writableNeedsDrain) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => {
      cleanup()
      resolve()
    }
    const onClose = (event: Event & { error?: Error }): void => {
      cleanup()
      reject(event.error ?? new Error('stream closed while waiting to send'))
    }
    const onAbort = (): void => {
      cleanup()
      reject(signal?.reason)
    }
    if (signal?.aborted === true) {
      reject(signal.reason)
      return
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/**
 * Frames of a stream read one at a time, for the short request/answer protocols. At most
 * `maxQueuedFrames` may wait unread; more is a violation (the peer is talking past its turn).
 */
export class FrameQueue {
  readonly #frames: Uint8ArrayList[] = []
  #waiter: PromiseWithResolvers<Uint8ArrayList | undefined> | undefined
  #ended = false
  #error: Error | undefined
  readonly #reader: FrameReader

  constructor(
    stream: MessageStream,
    protocol: string,
    maxFrameBytes: number,
    readonly maxQueuedFrames: number,
  ) {
    this.#reader = new FrameReader(stream, {
      protocol,
      maxFrameBytes,
      onFrame: frame => {
        if (this.#waiter !== undefined) {
          const waiter = this.#waiter
          this.#waiter = undefined
          waiter.resolve(frame)
          return
        }
        if (this.#frames.length >= this.maxQueuedFrames) {
          this.#reader.detach()
          this.#finish(new Error(`${protocol}: more than ${this.maxQueuedFrames} unread messages`))
          return
        }
        this.#frames.push(frame)
      },
      onError: err => this.#finish(err),
      onEnd: () => this.#finish(undefined),
    })
  }

  set maxFrameBytes(bytes: number) {
    this.#reader.maxFrameBytes = bytes
  }

  /** The next frame, or undefined once the remote has closed its side; rejects on failure. */
  next(signal?: AbortSignal): Promise<Uint8ArrayList | undefined> {
    const queued = this.#frames.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.#error !== undefined) return Promise.reject(this.#error)
    if (this.#ended) return Promise.resolve(undefined)
    signal?.throwIfAborted()
    const waiter = Promise.withResolvers<Uint8ArrayList | undefined>()
    this.#waiter = waiter
    const onAbort = (): void => {
      if (this.#waiter === waiter) this.#waiter = undefined
      waiter.reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    return waiter.promise.finally(() => signal?.removeEventListener('abort', onAbort))
  }

  #finish(err: Error | undefined): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = err
    const waiter = this.#waiter
    this.#waiter = undefined
    if (waiter === undefined) return
    if (err !== undefined) waiter.reject(err)
    else waiter.resolve(undefined)
  }
}
