import type { PeerId, Stream } from '@libp2p/interface'
import { z } from 'zod'
import { MessageTooLargeError, ProtocolViolationError } from './errors.js'
import { encodeFrame, FrameQueue, sendWithBackpressure } from './framing.js'
import type { ExchangeLogger, ExchangeNode } from './types.js'

/** Devices telling each other their status, so any one of them can show the whole floor. */
export const FLOOR_PROTOCOL = '/pvswarm/floor/1.0.0'

/** Hard limit on one floor message: 512 entries of well under 512 bytes each. */
export const MAX_FLOOR_MESSAGE_BYTES = 256 * 1024

/** Entries one floor message may carry. */
export const MAX_FLOOR_ENTRIES = 512

const releaseId = z.string().regex(/^[0-9A-Za-z:_-]{1,128}$/)
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

/** One device's status as it travels: validated field by field on arrival. */
export const floorEntrySchema = z
  .object({
    /** the device's peer id (base58) */
    peer: z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{16,128}$/),
    /** hostname or `--name` */
    name: z.string().min(1).max(64),
    fleet: z.string().min(1).max(256),
    /** the newest release whose trial held on the device */
    installed: z.object({ releaseId, sequence: count }).nullable(),
    /** the newest release the device accepted, and how far it got */
    newest: z
      .object({
        releaseId,
        sequence: count,
        phase: z.enum(['downloading', 'complete', 'installed', 'failed']),
        /** the device got it from `pvswarm seed`: it is the release's seed */
        seeded: z.boolean(),
        chunksDone: count,
        chunksTotal: count,
        bytesDone: count,
        bytesTotal: count,
      })
      .nullable(),
    /** the hand-over's phase (pending, uploading, step-stored, running, concluded) */
    handover: z.string().max(32).nullable(),
    /** the last trial's outcome */
    trial: z
      .object({
        releaseId,
        result: z.enum(['installed', 'failed']),
        status: z.string().max(32),
      })
      .nullable(),
    /** when the device itself wrote this entry (its own clock): newest wins */
    updatedAtMs: count,
  })
  .strict()

export type FloorEntry = z.infer<typeof floorEntrySchema>

const floorMessage = z
  .object({ v: z.literal(1), entries: z.array(floorEntrySchema).max(MAX_FLOOR_ENTRIES) })
  .strict()

export interface FloorGossipInit {
  node: ExchangeNode
  /**
   * What to send: every entry this device knows (to a peer that just connected) or only those
   * changed since the last push (to everyone).
   */
  entries(scope: 'all' | 'changed'): FloorEntry[]
  /** Entries a peer sent, each one valid; the receiver decides which are news. */
  onEntries(entries: FloorEntry[], from: string): void
  /**
   * Pushes of changes at most this often. Every push opens a stream to every peer, so a floor of
   * n devices downloading at once costs n² stream openings per interval.
   * @default 5000
   */
  minPushIntervalMs?: number
  /** One push (dial, send, close) must finish within this. @default 5000 */
  timeoutMs?: number
  logger?: ExchangeLogger
}

const SILENT: ExchangeLogger = { debug() {}, info() {}, warn() {} }

/**
 * The floor gossip: one message per stream, `{ v: 1, entries }` as a length-prefixed JSON frame.
 * A device pushes everything it knows to a peer that connects, and what changed to every peer
 * at most once a second. Relayed entries keep their origin's timestamp, so the receiver can
 * tell news from echoes and a push never loops.
 */
export class FloorGossip {
  readonly #init: FloorGossipInit
  readonly #log: ExchangeLogger
  readonly #intervalMs: number
  readonly #timeoutMs: number
  readonly #warned = new Set<string>()
  #lastPushMs = 0
  #timer: NodeJS.Timeout | undefined
  #started = false

  constructor(init: FloorGossipInit) {
    this.#init = init
    this.#log = init.logger ?? SILENT
    this.#intervalMs = init.minPushIntervalMs ?? 5000
    this.#timeoutMs = init.timeoutMs ?? 5000
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { node } = this.#init
    await node.handle(
      FLOOR_PROTOCOL,
      (stream, connection) => this.#receive(stream, connection.remotePeer),
      {
        maxInboundStreams: 4,
        maxOutboundStreams: 4,
      },
    )
    node.addEventListener('peer:connect', this.#onConnect)
    for (const peer of node.getPeers()) void this.#pushTo(peer, this.#init.entries('all'))
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#init.node.removeEventListener('peer:connect', this.#onConnect)
    await this.#init.node.unhandle(FLOOR_PROTOCOL)
  }

  /** Something changed: push the changes to every peer, now or when the interval allows. */
  changed(): void {
    if (!this.#started || this.#timer !== undefined) return
    const waitMs = Math.max(0, this.#lastPushMs + this.#intervalMs - Date.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#lastPushMs = Date.now()
      const entries = this.#init.entries('changed')
      if (entries.length === 0) return
      for (const peer of this.#init.node.getPeers()) void this.#pushTo(peer, entries)
    }, waitMs)
    this.#timer.unref?.()
  }

  readonly #onConnect = (event: CustomEvent<PeerId>): void => {
    void this.#pushTo(event.detail, this.#init.entries('all'))
  }

  async #pushTo(peer: PeerId, entries: FloorEntry[]): Promise<void> {
    if (!this.#started || entries.length === 0) return
    const signal = AbortSignal.timeout(this.#timeoutMs)
    try {
      const stream = await this.#init.node.dialProtocol(peer, FLOOR_PROTOCOL, { signal })
      for (let at = 0; at < entries.length; at += MAX_FLOOR_ENTRIES) {
        const batch = entries.slice(at, at + MAX_FLOOR_ENTRIES)
        const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, entries: batch }))
        await sendWithBackpressure(stream, encodeFrame(bytes), signal)
      }
      await stream.close({ signal })
    } catch (err) {
      // a peer without the protocol, or one that went away: it hears from us when it connects
      this.#log.debug({ peer: peer.toString(), err: (err as Error).message }, 'floor push failed')
    }
  }

  #receive(stream: Stream, from: PeerId): void {
    const peer = from.toString()
    const signal = AbortSignal.timeout(this.#timeoutMs)
    const frames = new FrameQueue(stream, FLOOR_PROTOCOL, MAX_FLOOR_MESSAGE_BYTES, 4)
    void (async () => {
      for (
        let frame = await frames.next(signal);
        frame !== undefined;
        frame = await frames.next(signal)
      ) {
        let document: unknown
        try {
          document = JSON.parse(new TextDecoder().decode(frame.subarray()))
        } catch {
          throw new ProtocolViolationError(FLOOR_PROTOCOL, 'message is not JSON')
        }
        const parsed = floorMessage.safeParse(document)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]
          throw new ProtocolViolationError(
            FLOOR_PROTOCOL,
            `invalid message at ${issue?.path.join('.') || 'top'}: ${issue?.message ?? 'invalid'}`,
          )
        }
        this.#init.onEntries(parsed.data.entries, peer)
      }
      await stream.close({ signal })
    })().catch((err: Error) => {
      this.#dropped(peer, err)
      stream.abort(err)
    })
  }

  /** A bad message is dropped and logged once per peer and reason, so a noisy peer cannot flood the log. */
  #dropped(peer: string, err: Error): void {
    if (!(err instanceof ProtocolViolationError || err instanceof MessageTooLargeError)) {
      this.#log.debug({ peer, err: err.message }, 'floor stream failed')
      return
    }
    const key = `${peer}:${err.message}`
    if (this.#warned.has(key)) return
    if (this.#warned.size >= 1024) this.#warned.clear()
    this.#warned.add(key)
    this.#log.warn({ peer, reason: err.message }, 'floor message dropped')
  }
}
