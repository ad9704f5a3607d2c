import type { PeerId, Stream } from '@libp2p/interface'
import { decodeBitmap } from './bitmap.js'
import { HAVE_PROTOCOL, MAX_HAVE_MESSAGE_BYTES } from './constants.js'
import { ProtocolViolationError } from './errors.js'
import { FrameReader } from './framing.js'
import { FrameKind, frameKind, haveMessage, jsonFrame, parseJson } from './messages.js'
import type { ExchangeLogger, ExchangeNode } from './types.js'

const OPEN_TIMEOUT_MS = 10_000

export interface HaveHandlers {
  /** the peer's bitmap of one object (bit i = chunk i) */
  onMap(objectIndex: number, bitmap: Uint8Array): void
  /** the peer has stored one more chunk */
  onChunk(objectIndex: number, chunkIndex: number): void
  /** the peer has started fetching a chunk */
  onFetching(objectIndex: number, chunkIndex: number): void
  /** the subscription is over (refused, closed, broken); called once */
  onEnd(reason: string): void
  /** bytes arrived from the peer (it is alive) */
  onTraffic?(): void
}

/** A running subscription to one peer's have-map of one release. */
export interface HaveSubscription {
  close(): void
}

/**
 * Subscribes to a peer's have-map of a release whose objects have `chunkCounts` chunks. Every
 * message is checked against the release's shape; a message that does not fit ends it.
 */
export function subscribeHave(
  node: ExchangeNode,
  peerId: PeerId,
  releaseId: string,
  chunkCounts: readonly number[],
  handlers: HaveHandlers,
  logger: ExchangeLogger,
): HaveSubscription {
  let stream: Stream | undefined
  let ended = false
  const peer = peerId.toString()

  const end = (reason: string, err?: Error): void => {
    if (ended) return
    ended = true
    if (err instanceof ProtocolViolationError) {
      logger.warn({ peer, err: err.message }, 'closing have stream: peer broke the protocol')
      stream?.abort(err)
    } else {
      stream?.close().catch(() => {})
    }
    handlers.onEnd(reason)
  }

  const onFrame = (frame: Parameters<typeof frameKind>[1]): void => {
    if (frameKind(HAVE_PROTOCOL, frame) !== FrameKind.Json) {
      throw new ProtocolViolationError(HAVE_PROTOCOL, 'expected a have message')
    }
    const message = parseJson(HAVE_PROTOCOL, frame, haveMessage, MAX_HAVE_MESSAGE_BYTES)
    if (message.t === 'no') return end(`refused: ${message.reason}`)
    if (message.t === 'map') {
      const count = chunkCounts[message.o]
      const bitmap = count === undefined ? undefined : decodeBitmap(message.bits, count)
      if (bitmap === undefined) {
        throw new ProtocolViolationError(
          HAVE_PROTOCOL,
          `bitmap of object ${message.o} does not fit`,
        )
      }
      return handlers.onMap(message.o, bitmap)
    }
    for (let at = 0; at + 1 < message.c.length; at += 2) {
      const objectIndex = message.c[at]!
      const chunkIndex = message.c[at + 1]!
      const count = chunkCounts[objectIndex]
      if (count === undefined || chunkIndex >= count) {
        throw new ProtocolViolationError(
          HAVE_PROTOCOL,
          `chunk ${objectIndex}:${chunkIndex} does not exist`,
        )
      }
      if (message.t === 'add') handlers.onChunk(objectIndex, chunkIndex)
      else handlers.onFetching(objectIndex, chunkIndex)
    }
  }

  void (async () => {
    try {
      const opened = await node.dialProtocol(peerId, HAVE_PROTOCOL, {
        signal: AbortSignal.timeout(OPEN_TIMEOUT_MS),
      })
      stream = opened
      if (ended) return void opened.abort(new Error('subscription closed while opening'))
      const reader: FrameReader = new FrameReader(opened, {
        protocol: HAVE_PROTOCOL,
        maxFrameBytes: MAX_HAVE_MESSAGE_BYTES,
        ...(handlers.onTraffic && { onBytes: handlers.onTraffic }),
        onFrame: frame => {
          try {
            onFrame(frame)
          } catch (err) {
            reader.detach()
            end('protocol violation', err as Error)
          }
        },
        onError: err => end(`stream failed: ${err.message}`, err),
        onEnd: () => end('peer closed the stream'),
      })
      opened.send(jsonFrame({ t: 'sub', r: releaseId }))
    } catch (err) {
      end(`could not open: ${(err as Error).message}`)
    }
  })()

  return { close: () => end('closed') }
}
