import { PvswarmError } from '../util/errors.js'

/** An object id is not Pantavisor's form (64 lowercase hex digits of sha256). */
export class InvalidObjectIdError extends PvswarmError {
  static override readonly name: string = 'InvalidObjectIdError'
}

/** A static peer entry is not a multiaddr ending in `/p2p/<peer id>`. */
export class InvalidStaticPeerError extends PvswarmError {
  static override readonly name: string = 'InvalidStaticPeerError'
}

/** A discovery option (mDNS timing, liveness timing) is out of range. */
export class DiscoveryOptionsError extends PvswarmError {
  static override readonly name: string = 'DiscoveryOptionsError'
}

/** A connected peer stopped answering pings; its connections were aborted with this. */
export class PeerUnresponsiveError extends PvswarmError {
  static override readonly name: string = 'PeerUnresponsiveError'
}
