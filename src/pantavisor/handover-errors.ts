import { PvswarmError } from '../util/errors.js'
import { shortId } from '../util/hex.js'

// Failures of the hand-over a caller reacts to differently. pv-ctrl's own
// errors (PvCtrl*) pass through unchanged when the hand-over adds nothing:
// 403 (PvCtrlForbiddenError already names the missing mgmt role), an
// unreachable socket, timeouts, a 503 that outlasted its budget.

/** A hand-over cannot start: the release is not complete in the store, or its state text does not match its id. */
export class HandoverIncompleteError extends PvswarmError {
  static override readonly name = 'HandoverIncompleteError'
}

/**
 * Pantavisor answered 422 "Object has bad checksum" for an upload. The store's
 * copy was re-hashed: when it was bad it is now quarantined and must be
 * fetched again; when it was good, the bytes went wrong on the way or on the
 * device. Nothing is retried by itself: hand over again once resolved.
 */
export class HandoverObjectRejectedError extends PvswarmError {
  static override readonly name = 'HandoverObjectRejectedError'

  constructor(
    readonly sha256: string,
    /** what re-hashing the store's copy found */
    readonly storeCopy: 'good' | 'bad' | 'missing',
    options?: ErrorOptions,
  ) {
    const found =
      storeCopy === 'bad'
        ? 'the store copy does not hash to its id either: it was quarantined and must be fetched again'
        : storeCopy === 'good'
          ? 'the store copy hashes correctly, so the bytes were damaged on the way to or on the device'
          : 'the store no longer holds it: it must be fetched again'
    super(`Pantavisor refused object ${sha256} as "bad checksum" (422); ${found}`, options)
  }
}

/** The device has no room for an object (or the state). Not retried until asked again. */
export class HandoverNoSpaceError extends PvswarmError {
  static override readonly name = 'HandoverNoSpaceError'

  constructor(
    /** the object (or `state`) that did not fit */
    readonly what: string,
    readonly sizeBytes: number,
    /** objects the device held for this release when it ran out */
    readonly heldObjects: number,
    readonly totalObjects: number,
    /** what Pantavisor did that shows it, e.g. its 507 answer */
    evidence: string,
    options?: ErrorOptions,
  ) {
    const thing = what === 'state' ? 'the revision state' : `object ${shortId(what)}`
    super(
      `Pantavisor has no room for ${thing} (${sizeBytes} bytes; ${evidence}); the device holds ` +
        `${heldObjects} of ${totalObjects} objects of the release, nothing was run. Free space on ` +
        'the device, then hand over again',
      options,
    )
  }
}

/** The release failed its trial on this device before: it is never handed over again. */
export class HandoverRefusedError extends PvswarmError {
  static override readonly name = 'HandoverRefusedError'

  constructor(
    readonly releaseId: string,
    readonly reason: string,
  ) {
    super(
      `release ${shortId(releaseId)} failed on this device before (${reason}); it is not handed over again`,
    )
  }
}

/** Another release is being handed over and has gone too far to be replaced. */
export class HandoverBusyError extends PvswarmError {
  static override readonly name = 'HandoverBusyError'
}

/** The schedule is `never`: this device downloads releases but does not hand them over. */
export class HandoverDisabledError extends PvswarmError {
  static override readonly name = 'HandoverDisabledError'

  constructor(readonly releaseId: string) {
    super(
      `release ${shortId(releaseId)} not handed over: the hand-over schedule is "never" (download only)`,
    )
  }
}

/** The hand-over was stopped (stop(), or replaced by a newer release while it waited). */
export class HandoverStoppedError extends PvswarmError {
  static override readonly name = 'HandoverStoppedError'
}

/** Pantavisor kept losing the stored step before its trial started (its GC ran in between). */
export class HandoverStepLostError extends PvswarmError {
  static override readonly name = 'HandoverStepLostError'
}

/** The persisted hand-over record cannot be used (written by something else, or damaged). */
export class HandoverRecordError extends PvswarmError {
  static override readonly name = 'HandoverRecordError'
}
