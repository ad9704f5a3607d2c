import { PvswarmError } from '../util/errors.js'

// One class per answer of pv-ctrl that a caller reacts to differently. `status`
// is the HTTP status Pantavisor sent, or undefined when the client refused the
// request itself before sending it; `pvMessage` is the text of Pantavisor's
// `{"Error": …}` body, kept verbatim so logs show what the device said.

export interface PvCtrlErrorDetails {
  /** HTTP status from pv-ctrl; undefined when nothing was answered */
  status?: number
  /** Pantavisor's own error text */
  pvMessage?: string
}

/** Base of every pv-ctrl failure. */
export class PvCtrlError extends PvswarmError {
  static override readonly name: string = 'PvCtrlError'
  readonly status: number | undefined
  readonly pvMessage: string | undefined

  constructor(message: string, details: PvCtrlErrorDetails = {}, options?: ErrorOptions) {
    super(message, options)
    this.status = details.status
    this.pvMessage = details.pvMessage
  }
}

/** No pv-ctrl socket to talk to: none found, nobody listening, or the connection dropped (a reboot). */
export class PvCtrlUnavailableError extends PvCtrlError {
  static override readonly name = 'PvCtrlUnavailableError'

  constructor(
    message: string,
    /** socket paths that were tried, in order */
    readonly tried: readonly string[] = [],
    options?: ErrorOptions,
  ) {
    super(message, {}, options)
  }
}

/** 403: the caller's container lacks the mgmt role. */
export class PvCtrlForbiddenError extends PvCtrlError {
  static override readonly name = 'PvCtrlForbiddenError'
}

/** 400, or a request the client refused to send because it was malformed. */
export class PvCtrlBadRequestError extends PvCtrlError {
  static override readonly name = 'PvCtrlBadRequestError'
}

/** 404 (a step or progress file that does not exist), or an object the device does not hold. */
export class PvCtrlNotFoundError extends PvCtrlError {
  static override readonly name = 'PvCtrlNotFoundError'
}

/** 422 on PUT /objects: the bytes did not hash to the name; Pantavisor deleted them. */
export class PvCtrlBadChecksumError extends PvCtrlError {
  static override readonly name = 'PvCtrlBadChecksumError'
}

/** 422 on PUT /steps: `Secureboot: …` or `Parser: …`; Pantavisor deleted the step. */
export class PvCtrlBadStateError extends PvCtrlError {
  static override readonly name = 'PvCtrlBadStateError'
}

/** 507: the device has no room. Never retried: space does not come back by waiting. */
export class PvCtrlNoSpaceError extends PvCtrlError {
  static override readonly name = 'PvCtrlNoSpaceError'
}

/** 503 that outlasted the client's patience (`maxBusyWaitMs`) or whose wait was aborted. */
export class PvCtrlBusyError extends PvCtrlError {
  static override readonly name = 'PvCtrlBusyError'

  constructor(
    message: string,
    /** the last Retry-After Pantavisor asked for, in milliseconds */
    readonly retryAfterMs: number,
    details: PvCtrlErrorDetails = {},
    options?: ErrorOptions,
  ) {
    super(message, details, options)
  }
}

/** The answer could not be understood (not JSON, wrong shape, truncated). */
export class PvCtrlProtocolError extends PvCtrlError {
  static override readonly name = 'PvCtrlProtocolError'
}

/** pv-ctrl went silent for longer than `requestTimeoutMs`. */
export class PvCtrlTimeoutError extends PvCtrlError {
  static override readonly name = 'PvCtrlTimeoutError'
}

/** Any other status (409, 500…): Pantavisor could not do it for a reason of its own. */
export class PvCtrlServerError extends PvCtrlError {
  static override readonly name = 'PvCtrlServerError'
}

/**
 * Pantavisor's copy of an object is not what the release says: a chunk that
 * hashes wrong, or an object shorter or longer than its size. Nothing of it
 * is served from then on.
 */
export class PvCtrlObjectCorruptError extends PvCtrlError {
  static override readonly name = 'PvCtrlObjectCorruptError'

  constructor(
    message: string,
    /** the object's id */
    readonly sha256: string,
    /** the chunk that did not verify; undefined when the length was wrong */
    readonly chunkIndex: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, {}, options)
  }
}
