import { PvswarmError } from '../util/errors.js'
import { shortId } from '../util/hex.js'

/** The object is neither complete in objects/ nor (where that counts) held as a partial. */
export class ObjectNotFoundError extends PvswarmError {
  static override readonly name = 'ObjectNotFoundError'

  constructor(readonly sha256: string) {
    super(`object ${shortId(sha256)} not found in the store`)
  }
}

/** The bytes offered for an object do not hash to its id. Nothing was published. */
export class ObjectHashMismatchError extends PvswarmError {
  static override readonly name = 'ObjectHashMismatchError'

  constructor(
    readonly sha256: string,
    readonly gotSha256: string,
  ) {
    super(`object ${shortId(sha256)}: expected sha256 ${sha256}, got ${gotSha256}`)
  }
}

/** The bytes offered for an object are not as long as its declared size. Nothing was published. */
export class ObjectSizeMismatchError extends PvswarmError {
  static override readonly name = 'ObjectSizeMismatchError'

  /** @param gotBytes what arrived; when the stream overran, the count at which it was cut off */
  constructor(
    readonly sha256: string,
    readonly expectedBytes: number,
    readonly gotBytes: number,
    overran = false,
  ) {
    const got = overran ? `more than ${expectedBytes} (cut off at ${gotBytes})` : `${gotBytes}`
    super(`object ${shortId(sha256)}: expected ${expectedBytes} bytes, got ${got}`)
  }
}

/** A chunk does not hash to the value in the object's chunk list. It was not written. */
export class ChunkMismatchError extends PvswarmError {
  static override readonly name = 'ChunkMismatchError'

  constructor(
    readonly sha256: string,
    readonly index: number,
    readonly expectedSha256: string,
    readonly gotSha256: string,
  ) {
    super(
      `object ${shortId(sha256)} chunk ${index}: expected sha256 ${shortId(expectedSha256)}, ` +
        `got ${shortId(gotSha256)}`,
    )
  }
}

/** A chunk has the wrong length for its place in the object. It was not written. */
export class ChunkSizeError extends PvswarmError {
  static override readonly name = 'ChunkSizeError'

  constructor(
    readonly sha256: string,
    readonly index: number,
    readonly expectedBytes: number,
    readonly gotBytes: number,
  ) {
    super(
      `object ${shortId(sha256)} chunk ${index}: expected ${expectedBytes} bytes, got ${gotBytes}`,
    )
  }
}

/** A chunk index outside 0 … chunkCount-1. */
export class ChunkIndexError extends PvswarmError {
  static override readonly name = 'ChunkIndexError'

  constructor(
    readonly sha256: string,
    readonly index: number,
    readonly chunkCount: number,
  ) {
    super(`object ${shortId(sha256)}: chunk index ${index} is not in 0…${chunkCount - 1}`)
  }
}

/** A chunked object spec that contradicts itself (chunk count vs size, bad hashes, …). */
export class InvalidChunkSpecError extends PvswarmError {
  static override readonly name = 'InvalidChunkSpecError'

  constructor(
    readonly sha256: string,
    problem: string,
  ) {
    super(`chunk spec of object ${shortId(sha256)}: ${problem}`)
  }
}

/**
 * openPartial was asked for an object that is already open as a partial with a different chunk
 * list or chunk size; close the other one first.
 */
export class PartialConflictError extends PvswarmError {
  static override readonly name = 'PartialConflictError'

  constructor(readonly sha256: string) {
    super(`object ${shortId(sha256)} is already being filled with a different chunk spec`)
  }
}

/** Starting or continuing a write would eat into the reserve (or the disk is really full). */
export class NoSpaceError extends PvswarmError {
  static override readonly name = 'NoSpaceError'

  /** @param what the object id (or file) that could not be stored */
  constructor(
    readonly what: string,
    readonly neededBytes: number,
    readonly freeBytes: number,
    options?: ErrorOptions,
  ) {
    super(
      `no space for ${shortId(what)}: needs ${neededBytes} bytes, ${freeBytes} free after reserve`,
      options,
    )
  }
}

/** A string used to build a path was not 64 lowercase hex characters. */
export class InvalidObjectIdError extends PvswarmError {
  static override readonly name = 'InvalidObjectIdError'

  /** @param kind what the id names, e.g. 'object' or 'release' */
  constructor(
    readonly value: unknown,
    kind = 'object',
  ) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value
    super(`invalid ${kind} id ${shown}: expected 64 lowercase hex characters`)
  }
}

/** A byte range outside the object. */
export class InvalidRangeError extends PvswarmError {
  static override readonly name = 'InvalidRangeError'

  constructor(
    readonly sha256: string,
    readonly start: number,
    readonly end: number,
    readonly size: number,
  ) {
    super(`object ${shortId(sha256)}: range ${start}…${end} is not within 0…${size}`)
  }
}

/** device-state.json exists but cannot be used. It is never silently reset. */
export class StateFileError extends PvswarmError {
  static override readonly name = 'StateFileError'

  constructor(
    readonly file: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`device state file ${file}: ${problem}`, options)
  }
}

/** An updateDeviceState mutation left the state in a shape that cannot be saved. Nothing was written. */
export class InvalidDeviceStateError extends PvswarmError {
  static override readonly name = 'InvalidDeviceStateError'

  constructor(readonly problem: string) {
    super(`device state after update is invalid, not saved: ${problem}`)
  }
}

/** Another live process holds this data directory. */
export class StoreLockedError extends PvswarmError {
  static override readonly name = 'StoreLockedError'

  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dataDir} is in use by process ${pid}`)
  }
}

/** The store (or partial object) was used after close(). */
export class StoreClosedError extends PvswarmError {
  static override readonly name = 'StoreClosedError'

  constructor(what = 'store') {
    super(`${what} is closed`)
  }
}
