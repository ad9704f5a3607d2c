import { PvswarmError } from '../util/errors.js'
import { shortId } from '../util/hex.js'

/** A peer sent something the protocol does not allow. The stream is closed; the node goes on. */
export class ProtocolViolationError extends PvswarmError {
  static override readonly name: string = 'ProtocolViolationError'

  constructor(
    readonly protocol: string,
    problem: string,
  ) {
    super(`${protocol}: ${problem}`)
  }
}

/** A message longer than the protocol's hard limit. */
export class MessageTooLargeError extends ProtocolViolationError {
  static override readonly name = 'MessageTooLargeError'

  constructor(
    protocol: string,
    readonly limitBytes: number,
    readonly gotBytes: number,
  ) {
    super(protocol, `message of ${gotBytes} bytes, expected at most ${limitBytes}`)
  }
}

/** A peer answered a chunk request with "no": it does not serve that release or lacks the chunk. */
export class ChunkRefusedError extends PvswarmError {
  static override readonly name = 'ChunkRefusedError'

  constructor(
    readonly peer: string,
    readonly sha256: string,
    readonly index: number,
    readonly reason: string,
  ) {
    super(`peer ${shortId(peer)} refused object ${shortId(sha256)} chunk ${index}: ${reason}`)
  }
}

/** The stream to a peer closed or failed while requests were outstanding. */
export class PeerStreamClosedError extends PvswarmError {
  static override readonly name = 'PeerStreamClosedError'

  constructor(
    readonly peer: string,
    readonly protocol: string,
    options?: ErrorOptions,
  ) {
    super(`stream ${protocol} to peer ${shortId(peer)} closed`, options)
  }
}

/** A release whose chunks are larger than any peer would send in one message. */
export class UnsupportedChunkSizeError extends PvswarmError {
  static override readonly name = 'UnsupportedChunkSizeError'

  constructor(
    readonly chunkBytes: number,
    readonly maxChunkBytes: number,
  ) {
    super(`release chunkBytes ${chunkBytes}: expected a whole number in 1…${maxChunkBytes}`)
  }
}

/** A download gave up: no connected peer holds what is still missing (and waiting was off). */
export class NoSourceError extends PvswarmError {
  static override readonly name = 'NoSourceError'

  constructor(
    readonly releaseId: string,
    readonly missingChunks: number,
    readonly waitedMs: number,
  ) {
    super(
      `release ${shortId(releaseId)}: ${missingChunks} chunks missing and no connected peer ` +
        `has any of them after ${waitedMs} ms`,
    )
  }
}

/** The download was cancelled by its owner (or the exchange stopped). */
export class DownloadCancelledError extends PvswarmError {
  static override readonly name = 'DownloadCancelledError'

  constructor(readonly releaseId: string) {
    super(`download of release ${shortId(releaseId)} was cancelled`)
  }
}

/** The store failed while a verified chunk was being written: the download stops. */
export class ChunkWriteError extends PvswarmError {
  static override readonly name = 'ChunkWriteError'

  constructor(
    readonly sha256: string,
    readonly index: number,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(`writing object ${shortId(sha256)} chunk ${index} to the store failed${cause}`, options)
  }
}

/**
 * A chunk sent to a peer was not taken off this device within its deadline: the peer stopped
 * reading (or reads too slowly to be worth an upload slot). Its chunk stream is reset, which frees
 * the slot and the chunk's bytes buffered for it.
 */
export class UploadStalledError extends PvswarmError {
  static override readonly name = 'UploadStalledError'

  constructor(
    readonly peer: string,
    readonly bytes: number,
    readonly deadlineMs: number,
  ) {
    super(
      `peer ${shortId(peer)} took less than a ${bytes}-byte chunk in ${Math.round(deadlineMs / 1000)} s: ` +
        'upload abandoned, chunk stream reset',
    )
  }
}
