/**
 * The exchange: pvswarm's wire protocols and the chunk scheduler.
 *
 * - `/pvswarm/release/1.0.0`: when two devices connect, each announces its newest release per
 *   fleet; the other asks for the ones it wants and hands their bytes to `offerRelease` (the
 *   composition decides trust). A release accepted here is announced on to every connected peer.
 * - `/pvswarm/have/1.0.0`: a downloader subscribes to a peer's have-map of a release: one bitmap
 *   per object, then the chunks stored since and the chunks being fetched, batched. The latter
 *   let devices that start together ask a seed for different chunks and trade them.
 * - `/pvswarm/chunk/1.0.0`: one long-lived stream per peer carrying pipelined chunk requests;
 *   only objects of releases the book calls servable are served, chunk by chunk as soon as each
 *   is verified, under an upload concurrency cap and an optional rate cap.
 * - `/pvswarm/floor/1.0.0`: devices push their status (release, progress, hand-over, trial) to
 *   peers on connect and on change (at most once a second), relaying what they heard with the
 *   origin's timestamp, so any one device can show the whole floor (`FloorGossip`).
 *
 * Every message is length-prefixed with a hard size limit; a peer that breaks a protocol has
 * its stream closed and is logged, and the node goes on.
 *
 * @example
 * const exchange = createExchange({ node, store, book, offerRelease })
 * await exchange.start()
 * const download = exchange.download(releaseId, release)
 * download.on('progress', p => console.log(p.chunksDone, '/', p.chunksTotal))
 * await download.done
 */
export { createExchange, Exchange, type ExchangeInit, type ExchangeOptions } from './exchange.js'
export { Download, type DownloadInit } from './scheduler.js'
export type {
  BanEvent,
  BanReason,
  ChunkFetcher,
  ChunkFetchRequest,
  DownloadEvents,
  DownloadOptions,
  DownloadProgress,
  DownloadStats,
  RequestedChunk,
  StoredChunk,
} from './download-types.js'
export type { UploadStats } from './chunk-server.js'
export type {
  ExchangeLogger,
  ExchangeNode,
  ExchangeStore,
  OfferRelease,
  OfferResult,
  PartialObject,
  ReleaseBook,
  ReleaseContent,
  ReleaseSummary,
} from './types.js'
export {
  ChunkRefusedError,
  ChunkWriteError,
  DownloadCancelledError,
  MessageTooLargeError,
  NoSourceError,
  PeerStreamClosedError,
  ProtocolViolationError,
  UnsupportedChunkSizeError,
  UploadStalledError,
} from './errors.js'
export {
  CHUNK_PROTOCOL,
  DEFAULTS as EXCHANGE_DEFAULTS,
  HAVE_PROTOCOL,
  MAX_CHUNK_BYTES,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_HAVE_MESSAGE_BYTES,
  MAX_RELEASE_BYTES,
  RELEASE_PROTOCOL,
} from './constants.js'
export {
  FLOOR_PROTOCOL,
  FloorGossip,
  floorEntrySchema,
  MAX_FLOOR_ENTRIES,
  MAX_FLOOR_MESSAGE_BYTES,
  type FloorEntry,
  type FloorGossipInit,
} from './floor-protocol.js'
