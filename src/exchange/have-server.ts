import type { Stream } from '@libp2p/interface'
import { chunkCount } from '../release/index.js'
import { shortId } from '../util/hex.js'
import { encodeBitmap } from './bitmap.js'
import { HAVE_PROTOCOL, MAX_CONTROL_MESSAGE_BYTES, MAX_HAVE_UPDATE_CHUNKS } from './constants.js'
import { ProtocolViolationError } from './errors.js'
import { FrameQueue } from './framing.js'
import { FrameKind, frameKind, haveRequest, jsonFrame, parseJson } from './messages.js'
import type { ExchangeLogger, ExchangeStore, ReleaseBook } from './types.js'

/** A subscriber must say which release it wants within this time. */
const SUBSCRIBE_TIMEOUT_MS = 10_000

export interface HaveServerInit {
  store: ExchangeStore
  book: ReleaseBook
  /** false when this device must not serve the release (the seed-only baseline) */
  mayServe(releaseId: string): boolean
  /** new chunks are sent at most this often, in one message */
  flushIntervalMs: number
  logger: ExchangeLogger
}

interface Subscription {
  stream: Stream
  /** object id → its indexes in the subscribed release */
  objects: Map<string, number[]>
  /** "object:chunk" stored here and not yet told; a set, so it never outgrows the release */
  stored: Set<string>
  /** "object:chunk" this device started fetching and not yet told */
  fetching: Set<string>
  timer: NodeJS.Timeout | undefined
}

/**
 * Tells subscribers which chunks of a release this device holds: one bitmap per object when the
 * subscription starts, then the chunks stored since, batched every flushIntervalMs.
 */
export class HaveServer {
  readonly #subscriptions = new Set<Subscription>()

  constructor(private readonly init: HaveServerInit) {}

  /** A chunk was stored here: every subscription whose release has that object hears of it. */
  noteStored(sha256: string, chunkIndex: number): void {
    this.#note('stored', sha256, chunkIndex)
  }

  /**
   * This device started fetching a chunk, or sending one to a peer: subscribers had better fetch
   * other ones first.
   */
  noteFetching(sha256: string, chunkIndex: number): void {
    this.#note('fetching', sha256, chunkIndex)
  }

  #note(kind: 'stored' | 'fetching', sha256: string, chunkIndex: number): void {
    for (const subscription of this.#subscriptions) {
      const indexes = subscription.objects.get(sha256)
      if (indexes === undefined) continue
      for (const objectIndex of indexes) subscription[kind].add(`${objectIndex}:${chunkIndex}`)
      this.#arm(subscription)
    }
  }

  /** Takes over an inbound have stream. Never throws. */
  handle(stream: Stream, peer: string): void {
    void this.#serve(stream, peer).catch((err: Error) => {
      if (err instanceof ProtocolViolationError) {
        this.init.logger.warn(
          { peer, err: err.message },
          'closing have stream: peer broke the protocol',
        )
      }
      stream.abort(err)
    })
  }

  async #serve(stream: Stream, peer: string): Promise<void> {
    const frames = new FrameQueue(stream, HAVE_PROTOCOL, MAX_CONTROL_MESSAGE_BYTES + 1, 1)
    const first = await frames.next(AbortSignal.timeout(SUBSCRIBE_TIMEOUT_MS))
    if (first === undefined) return void (await stream.close())
    if (frameKind(HAVE_PROTOCOL, first) !== FrameKind.Json) {
      throw new ProtocolViolationError(HAVE_PROTOCOL, 'expected a subscription')
    }
    const { r: releaseId } = parseJson(HAVE_PROTOCOL, first, haveRequest)
    const content = this.init.mayServe(releaseId)
      ? await this.init.book.servable(releaseId)
      : undefined
    if (content === undefined) {
      this.init.logger.debug({ peer, releaseId }, 'have subscription refused: release not served')
      stream.send(jsonFrame({ t: 'no', reason: 'release not served here' }))
      return void (await stream.close())
    }

    const subscription: Subscription = {
      stream,
      objects: new Map(),
      stored: new Set(),
      fetching: new Set(),
      timer: undefined,
    }
    content.objects.forEach((object, index) => {
      const list = subscription.objects.get(object.sha256)
      if (list === undefined) subscription.objects.set(object.sha256, [index])
      else list.push(index)
    })
    // subscribe before reading the maps: a chunk stored in between is then sent twice, not never
    this.#subscriptions.add(subscription)
    try {
      for (const [index, object] of content.objects.entries()) {
        const map = await this.init.store.chunkMap(object.sha256, content.chunkBytes)
        if (map === undefined || map.every(byte => byte === 0)) continue
        const expected = Math.ceil(chunkCount(object.size, content.chunkBytes) / 8)
        if (map.byteLength !== expected) {
          this.init.logger.warn(
            { object: shortId(object.sha256) },
            'store chunk map has the wrong length',
          )
          continue
        }
        stream.send(jsonFrame({ t: 'map', o: index, bits: encodeBitmap(map) }))
      }
      stream.addEventListener('drain', () => this.#flush(subscription))
      const extra = await frames.next()
      if (extra !== undefined) {
        throw new ProtocolViolationError(HAVE_PROTOCOL, 'unexpected message after the subscription')
      }
      await stream.close()
    } finally {
      this.#subscriptions.delete(subscription)
      if (subscription.timer !== undefined) clearTimeout(subscription.timer)
    }
  }

  #arm(subscription: Subscription): void {
    if (subscription.timer !== undefined) return
    subscription.timer = setTimeout(() => {
      subscription.timer = undefined
      this.#flush(subscription)
    }, this.init.flushIntervalMs)
  }

  #flush(subscription: Subscription): void {
    const { stream } = subscription
    if (stream.status !== 'open' || stream.writeStatus !== 'writable') return
    try {
      // what is stored first: it is what a subscriber can act on
      this.#send(stream, 'add', subscription.stored)
      this.#send(stream, 'pend', subscription.fetching)
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  #send(stream: Stream, t: 'add' | 'pend', keys: Set<string>): void {
    while (keys.size > 0 && !stream.writableNeedsDrain) {
      const chunks: number[] = []
      for (const key of keys) {
        keys.delete(key)
        const [objectIndex, chunkIndex] = key.split(':').map(Number) as [number, number]
        chunks.push(objectIndex, chunkIndex)
        if (chunks.length >= 2 * MAX_HAVE_UPDATE_CHUNKS) break
      }
      stream.send(jsonFrame({ t, c: chunks }))
    }
  }
}
