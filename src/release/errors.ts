import { PvswarmError } from '../util/errors.js'

/** A release document that does not have the release format's shape. */
export class InvalidReleaseError extends PvswarmError {
  static override readonly name = 'InvalidReleaseError'
}

/** A key file or public key string that cannot be read. */
export class InvalidKeyError extends PvswarmError {
  static override readonly name = 'InvalidKeyError'
}
