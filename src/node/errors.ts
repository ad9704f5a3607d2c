import { PvswarmError } from '../util/errors.js'

/** The identity key file exists but cannot be used as this device's identity. */
export class IdentityFileError extends PvswarmError {
  static override readonly name: string = 'IdentityFileError'
}

/** A fleet key (pnet `swarm.key`) is missing, malformed or of the wrong length. */
export class FleetKeyError extends PvswarmError {
  static override readonly name: string = 'FleetKeyError'
}

/** A `SwarmNodeOptions` field holds a value the node cannot start with. */
export class SwarmNodeOptionsError extends PvswarmError {
  static override readonly name: string = 'SwarmNodeOptionsError'
}

/** The fleet (pnet) handshake with a remote failed: no nonce, short nonce, timeout. */
export class FleetHandshakeError extends PvswarmError {
  static override readonly name: string = 'FleetHandshakeError'
}

/** A stream closed (reset, aborted, connection lost) before queued bytes were sent. */
export class StreamSendError extends PvswarmError {
  static override readonly name: string = 'StreamSendError'
}

/** The status API could not listen on its address (in use, not a local address, no permission). */
export class ApiListenError extends PvswarmError {
  static override readonly name: string = 'ApiListenError'
}

/** The node could not listen on a configured address (in use, not on this host, no permission). */
export class ListenError extends PvswarmError {
  static override readonly name: string = 'ListenError'
}
