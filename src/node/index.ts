/**
 * @packageDocumentation
 * The device's libp2p node: identity, fleet key, allowlist, transports, and
 * the discovery service wired to it.
 *
 * ```ts
 * const node = await createSwarmNode({ dataDir, fleetKey: await readFleetKey(path) })
 * await node.libp2p.handle('/pvswarm/…', handler, { maxInboundStreams: 64, maxOutboundStreams: 64 })
 * node.discovery.on('peer:connected', ({ peerId }) => …)
 * await node.start()
 * …
 * await node.stop()
 * ```
 *
 * Notes for protocols registered on `libp2p`:
 * - libp2p allows 32 inbound and 64 outbound streams per protocol per
 *   connection unless `handle()` / `dialProtocol()` are given
 *   `maxInboundStreams` / `maxOutboundStreams`; streams beyond that are reset.
 * - A stream's receive window is `STREAM_WINDOW_BYTES` and it may hold
 *   `STREAM_READ_BUFFER_BYTES` unread: pausing a stream (`stream.pause()`) is
 *   safe, data keeps arriving for at most one window. Attach the 'message'
 *   listener (or start iterating) at once: a stream nobody reads is not
 *   paused, and is aborted once the read buffer overflows. `resume()` throws
 *   when the stream or its connection closed while paused: check
 *   `stream.status === 'open'` first.
 * - Write large data with `sendBounded(stream, piece)` (or wait for the
 *   stream's 'idle' event while `writeBufferLength > 0`). Waiting for
 *   'drain' is not enough: it fires per window update, and a stream with
 *   more than `STREAM_WRITE_BUFFER_BYTES` queued is aborted.
 */
export { createSwarmNode, type SwarmNode, type SwarmNodeOptions } from './swarm-node.js'
export { loadOrCreateIdentity, type IdentityOptions } from './identity.js'
export { generateFleetKey, readFleetKey } from './fleet-key.js'
export { fleetProtector, type FleetProtectorOptions } from './fleet-protector.js'
export { allowlistGater } from './gater.js'
export { sendBounded } from './stream-writes.js'
export { createSwarmLibp2p, type SwarmLibp2p, type SwarmServices } from './libp2p.js'
export {
  DEFAULT_LISTEN,
  DEFAULT_MAX_CONNECTIONS,
  DHT_PROTOCOL,
  IDENTITY_FILE,
  STREAM_READ_BUFFER_BYTES,
  STREAM_WINDOW_BYTES,
  STREAM_WRITE_BUFFER_BYTES,
} from './constants.js'
export {
  FleetHandshakeError,
  FleetKeyError,
  IdentityFileError,
  ListenError,
  StreamSendError,
  SwarmNodeOptionsError,
} from './errors.js'
export { FloorView, type FloorRow, type FloorViewOptions } from './floor.js'
export type { DownloadView, ObjectProgress } from './download-tracker.js'
export type { OperatorViews, OperatorViewsOptions } from './operator.js'
