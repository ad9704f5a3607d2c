import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Release } from '../release/index.js'

/** The part of a release the exchange moves bytes for. */
export type ReleaseContent = Pick<Release, 'chunkBytes' | 'objects'>

/** What a device tells its neighbours about a release it holds: cheap, the full release on demand. */
export interface ReleaseSummary {
  fleet: string
  sequence: number
  /** the release's id (the release room's `releaseId`), opaque to the exchange */
  releaseId: string
}

/** What the composition did with release bytes a peer sent. */
export type OfferResult = 'accepted' | 'known' | 'refused'

/** The composition's verdict on release bytes: it runs policy and the store, not the exchange. */
export type OfferRelease = (bytes: Uint8Array, from: PeerId) => Promise<OfferResult>

/** The releases this device has accepted, as the composition keeps them. */
export interface ReleaseBook {
  /** The newest accepted release of each fleet: what this device announces. */
  newest(): Promise<readonly ReleaseSummary[]>
  /** An accepted release's bytes exactly as they travel, or undefined when not accepted here. */
  releaseBytes(releaseId: string): Promise<Uint8Array | undefined>
  /**
   * The accepted release whose objects this device may serve, or undefined: the exchange serves
   * nothing else (it is not a general file server).
   */
  servable(releaseId: string): Promise<ReleaseContent | undefined>
}

/** One object being filled chunk by chunk (structural subset of the store's partial object). */
export interface PartialObject {
  readonly sha256: string
  readonly size: number
  readonly chunkBytes: number
  readonly chunkCount: number
  has(index: number): boolean
  missing(): number[]
  isComplete(): boolean
  /**
   * Verifies length and sha256 itself, refusing a chunk that does not match its hash with a
   * ChunkMismatchError (`.name`) and writing nothing; safe to call concurrently; publishes after
   * the last chunk. Takes the pieces a chunk arrived in without copying them.
   */
  writeChunk(index: number, bytes: Uint8Array | Uint8ArrayList): Promise<'stored' | 'already'>
  close(): Promise<void>
}

/** What the exchange needs from the store (structural subset of the store's API). */
export interface ExchangeStore {
  has(sha256: string): Promise<boolean>
  /** A chunk of a complete object or a verified chunk of a partial one. */
  readChunk(sha256: string, index: number, chunkBytes: number): Promise<Uint8Array | undefined>
  /** Bit i = chunk i held, LSB first in each byte; undefined when nothing of the object is held. */
  chunkMap(sha256: string, chunkBytes: number): Promise<Uint8Array | undefined>
  openPartial(spec: {
    sha256: string
    size: number
    chunkBytes: number
    chunkSha256: readonly string[]
  }): Promise<PartialObject>
}

/** What the exchange needs from the libp2p node: a libp2p 3 node satisfies it. */
export type ExchangeNode = Pick<
  Libp2p,
  | 'peerId'
  | 'handle'
  | 'unhandle'
  | 'dialProtocol'
  | 'getConnections'
  | 'getPeers'
  | 'addEventListener'
  | 'removeEventListener'
>

/** Structured logger (a pino logger fits): one line per event worth knowing. */
export interface ExchangeLogger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}
