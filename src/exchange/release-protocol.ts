import type { PeerId, Stream } from '@libp2p/interface'
import { shortId } from '../util/hex.js'
import {
  MAX_ANNOUNCED_RELEASES,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_RELEASE_BYTES,
  RELEASE_PROTOCOL,
} from './constants.js'
import { ProtocolViolationError } from './errors.js'
import { FrameQueue, sendWithBackpressure } from './framing.js'
import {
  FrameKind,
  frameKind,
  jsonFrame,
  parseJson,
  parseReleaseBytes,
  releaseBytesFrame,
  releaseMessage,
} from './messages.js'
import type {
  ExchangeLogger,
  ExchangeNode,
  OfferRelease,
  OfferResult,
  ReleaseBook,
  ReleaseSummary,
} from './types.js'

export interface ReleaseAnnouncerInit {
  node: ExchangeNode
  book: ReleaseBook
  offerRelease: OfferRelease
  /** replaces the default "newer than what I hold for that fleet" test */
  wantRelease?: (summary: ReleaseSummary, from: PeerId) => boolean | Promise<boolean>
  maxReleasesPerAnnouncement: number
  rememberedReleaseIds: number
  timeoutMs: number
  /** a release from a peer was accepted here: pass it on */
  onAccepted(releaseId: string, from: PeerId): void
  /** a peer announced the releases it holds (its have-map of them may now be asked for) */
  onAnnounced?(releaseIds: string[], from: PeerId): void
  logger: ExchangeLogger
}

/**
 * The release announcement: the dialer lists its newest release per fleet, the listener answers
 * with the ids it wants, the dialer sends those releases' bytes and closes. What to do with them
 * is the composition's call (offerRelease).
 */
export class ReleaseAnnouncer {
  /** release ids already offered (or being fetched): never fetched again while remembered */
  readonly #seen = new Map<string, OfferResult | 'fetching'>()

  constructor(private readonly init: ReleaseAnnouncerInit) {}

  /** Tells one peer this device's newest releases, and sends the ones it asks for. */
  async announceTo(peerId: PeerId): Promise<void> {
    const newest = (await this.init.book.newest()).slice(0, MAX_ANNOUNCED_RELEASES)
    if (newest.length === 0) return
    const signal = AbortSignal.timeout(this.init.timeoutMs)
    const stream = await this.init.node.dialProtocol(peerId, RELEASE_PROTOCOL, { signal })
    try {
      const frames = new FrameQueue(stream, RELEASE_PROTOCOL, MAX_CONTROL_MESSAGE_BYTES + 1, 1)
      stream.send(jsonFrame({ t: 'announce', releases: newest }))
      const reply = await frames.next(signal)
      if (reply === undefined) return
      const message = this.#control(reply)
      if (message.t !== 'want') throw new ProtocolViolationError(RELEASE_PROTOCOL, 'expected want')
      const announced = new Set(newest.map(summary => summary.releaseId))
      for (const id of new Set(message.ids)) {
        if (!announced.has(id)) continue
        const bytes = await this.init.book.releaseBytes(id)
        if (bytes !== undefined)
          await sendWithBackpressure(stream, releaseBytesFrame(id, bytes), signal)
      }
      await stream.close({ signal })
    } catch (err) {
      this.#abort(stream, peerId, err as Error)
      throw err
    }
  }

  /** Takes over an inbound announcement. Never throws. */
  handle(stream: Stream, from: PeerId): void {
    void this.#receive(stream, from).catch((err: Error) => this.#abort(stream, from, err))
  }

  async #receive(stream: Stream, from: PeerId): Promise<void> {
    const signal = AbortSignal.timeout(this.init.timeoutMs)
    const queued = this.init.maxReleasesPerAnnouncement + 1
    const frames = new FrameQueue(stream, RELEASE_PROTOCOL, MAX_CONTROL_MESSAGE_BYTES + 1, queued)
    const first = await frames.next(signal)
    if (first === undefined) return
    const message = this.#control(first)
    if (message.t !== 'announce')
      throw new ProtocolViolationError(RELEASE_PROTOCOL, 'expected announce')
    this.init.onAnnounced?.(
      message.releases.map(summary => summary.releaseId),
      from,
    )

    const wanted = await this.#choose(message.releases, from)
    for (const id of wanted) this.#seen.set(id, 'fetching')
    const received = new Map<string, Uint8Array>()
    try {
      // only now may a frame be as large as a release
      frames.maxFrameBytes =
        wanted.length > 0 ? MAX_RELEASE_BYTES + 256 : MAX_CONTROL_MESSAGE_BYTES + 1
      stream.send(jsonFrame({ t: 'want', ids: wanted }))
      for (
        let frame = await frames.next(signal);
        frame !== undefined;
        frame = await frames.next(signal)
      ) {
        if (frameKind(RELEASE_PROTOCOL, frame) !== FrameKind.ReleaseBytes) {
          throw new ProtocolViolationError(RELEASE_PROTOCOL, 'expected release bytes')
        }
        const { releaseId, bytes } = parseReleaseBytes(RELEASE_PROTOCOL, frame)
        if (!wanted.includes(releaseId) || received.has(releaseId)) {
          throw new ProtocolViolationError(
            RELEASE_PROTOCOL,
            `release ${shortId(releaseId)} was not asked for`,
          )
        }
        received.set(releaseId, bytes)
      }
      await stream.close({ signal })
    } finally {
      for (const id of wanted) if (!received.has(id)) this.#seen.delete(id)
    }

    for (const [releaseId, bytes] of received) {
      let result: OfferResult
      try {
        result = await this.init.offerRelease(bytes, from)
      } catch (err) {
        this.#seen.delete(releaseId)
        this.init.logger.warn(
          { peer: from.toString(), releaseId, err: (err as Error).message },
          'release offer failed',
        )
        continue
      }
      this.#remember(releaseId, result)
      this.init.logger.info({ peer: from.toString(), releaseId, result }, 'release offered by peer')
      if (result === 'accepted') this.init.onAccepted(releaseId, from)
    }
  }

  /** The announced releases worth fetching: not seen before, newer than held, a few at most. */
  async #choose(releases: readonly ReleaseSummary[], from: PeerId): Promise<string[]> {
    const held = await this.init.book.newest()
    const wanted: string[] = []
    for (const summary of releases) {
      if (wanted.length >= this.init.maxReleasesPerAnnouncement) break
      if (this.#seen.has(summary.releaseId) || wanted.includes(summary.releaseId)) continue
      if (held.some(own => own.releaseId === summary.releaseId)) continue
      const wants =
        this.init.wantRelease !== undefined
          ? await this.init.wantRelease(summary, from)
          : !held.some(own => own.fleet === summary.fleet && own.sequence >= summary.sequence)
      if (wants) wanted.push(summary.releaseId)
    }
    return wanted
  }

  #remember(releaseId: string, result: OfferResult): void {
    this.#seen.delete(releaseId)
    this.#seen.set(releaseId, result)
    while (this.#seen.size > this.init.rememberedReleaseIds) {
      const oldest = this.#seen.keys().next().value
      if (oldest === undefined) break
      this.#seen.delete(oldest)
    }
  }

  #control(frame: Parameters<typeof frameKind>[1]) {
    if (frameKind(RELEASE_PROTOCOL, frame) !== FrameKind.Json) {
      throw new ProtocolViolationError(RELEASE_PROTOCOL, 'expected a control message')
    }
    return parseJson(RELEASE_PROTOCOL, frame, releaseMessage)
  }

  #abort(stream: Stream, peer: PeerId, err: Error): void {
    const fields = { peer: peer.toString(), err: err.message }
    if (err instanceof ProtocolViolationError) {
      this.init.logger.warn(fields, 'closing release stream: peer broke the protocol')
    } else {
      this.init.logger.debug(fields, 'release exchange failed')
    }
    stream.abort(err)
  }
}
