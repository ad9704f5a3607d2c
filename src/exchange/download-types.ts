import type { Uint8ArrayList } from 'uint8arraylist'

/** One chunk asked of one peer. */
export interface ChunkFetchRequest {
  objectIndex: number
  sha256: string
  chunkIndex: number
  /** the length the chunk must have */
  expectedBytes: number
}

/**
 * Asks one peer for one chunk: its bytes, whole or in the pieces they arrived in. Rejects when the
 * peer refuses, the stream fails or `signal` aborts.
 */
export type ChunkFetcher = (
  request: ChunkFetchRequest,
  signal: AbortSignal,
) => Promise<Uint8Array | Uint8ArrayList>

/** Tuning of one download. */
export interface DownloadOptions {
  /**
   * Requests outstanding at one peer (including chunks received and being written): this window is
   * the receive backpressure: received chunks waiting to be verified and written never take more
   * than the in-flight limits allow.
   * @default 4
   */
  maxInFlightPerPeer?: number
  /** Requests outstanding over all peers. @default 48 */
  maxInFlightTotal?: number
  /**
   * Bytes of requests outstanding over all peers: with large chunks this, not maxInFlightTotal,
   * bounds the memory a download uses (always at least one request).
   * @default 67108864 (64 MiB)
   */
  maxInFlightBytes?: number
  /** No request times out sooner than this. @default 5000 */
  timeoutFloorMs?: number
  /**
   * A request times out after timeoutFactor × (the bytes queued at that peer, this chunk included)
   * ÷ (that peer's observed rate), or timeoutFloorMs if longer.
   * @default 4
   */
  timeoutFactor?: number
  /**
   * Rate assumed for a peer before its first chunk arrives. Low on purpose: with 1 MiB chunks a
   * new peer gets one request until it has shown its rate, so many devices starting at once do
   * not bury a seed under requests that then time out.
   * @default 1048576 (1 MiB/s)
   */
  initialRateBytesPerSecond?: number
  /**
   * A peer whose requests time out this many times in a row, with no data from it in between, is
   * banned ('stalled'). Each timeout lowers the rate assumed for it, so the next timeout is longer.
   * @default 4
   */
  maxConsecutiveTimeouts?: number
  /** In the endgame, a chunk may be asked of this many peers at once; the first wins. @default 2 */
  maxRequestsPerChunk?: number
  /**
   * When no connected peer holds anything still missing, keep waiting for new peers (true) or fail
   * with NoSourceError after noSourceTimeoutMs (false).
   * @default true
   */
  waitForPeers?: boolean
  /** With waitForPeers false: how long "no source" must last before the download fails. @default 10000 */
  noSourceTimeoutMs?: number
  /** Source of randomness for tie-breaks and the order in which peers take turns. @default Math.random */
  random?: () => number
}

/** Why a peer was banned from a download. */
export type BanReason = 'bad-hash' | 'wrong-size' | 'stalled'

export interface BanEvent {
  peer: string
  reason: BanReason
  /** the chunk that was bad (absent for 'stalled') */
  chunk?: { sha256: string; chunkIndex: number }
  /** what exactly was wrong, for the log */
  detail: string
}

export interface DownloadProgress {
  chunksDone: number
  chunksTotal: number
  bytesDone: number
  bytesTotal: number
}

/** A verified chunk written to the store. */
export interface StoredChunk {
  objectIndex: number
  sha256: string
  chunkIndex: number
  /** the peer it came from */
  peer: string
}

/** A chunk this download has just asked a peer for. */
export interface RequestedChunk {
  objectIndex: number
  sha256: string
  chunkIndex: number
}

export interface DownloadEvents {
  progress: [DownloadProgress]
  stored: [StoredChunk]
  /** a chunk was asked of a peer (duplicates in the endgame are not reported) */
  requested: [RequestedChunk]
  ban: [BanEvent]
  /** nothing missing is held by any usable peer; the download waits (waitForPeers) */
  waiting: [{ missingChunks: number }]
}

/** Counters of one download. */
export interface DownloadStats extends DownloadProgress {
  releaseId: string
  /** chunks already in the store when the download started */
  chunksHeldAtStart: number
  /** requests sent, duplicates included */
  requests: number
  /** endgame requests for a chunk already asked of another peer */
  duplicateRequests: number
  /** bytes received for chunks some other peer had already delivered */
  duplicateBytes: number
  /** requests cancelled because another peer delivered first */
  cancelledRequests: number
  timeouts: number
  /** bytes received from each peer (peer id string → bytes), bad ones included */
  bytesReceivedByPeer: Record<string, number>
  bans: BanEvent[]
}
