/**
 * The signed release: "fleet F should run revision R as sequence N". It is
 * what travels first between devices and what every decision checks. This
 * room creates, signs, encodes, parses and verifies releases and reads and
 * writes release key files; whether to install one is policy's decision.
 *
 * @example
 * const key = generateReleaseKey()
 * const body = createRelease({ revision, objects, fleet: 'line-3', sequence: 7 })
 * const release = signRelease(body, key)
 * checkSignatures(release, [key.publicKey]).trustedValid // [key.publicKey]
 */
export type {
  Release,
  ReleaseBody,
  ReleaseObject,
  ReleaseRevision,
  ReleaseSignature,
} from './types.js'
export {
  chunkCount,
  chunkLength,
  describeObject,
  describingSink,
  ObjectDescriber,
} from './chunks.js'
export {
  createRelease,
  signRelease,
  DEFAULT_CHUNK_BYTES,
  type CreateReleaseInit,
} from './create.js'
export {
  encodeRelease,
  releaseBody,
  releaseId,
  signingPayload,
  RELEASE_SIGNING_DOMAIN,
} from './encoding.js'
export { InvalidKeyError, InvalidReleaseError } from './errors.js'
export { readKeyFile, writeKeyFile } from './key-file.js'
export {
  decodeKeyFile,
  decodePublicKey,
  encodeKeyFile,
  encodePublicKey,
  generateReleaseKey,
  publicKeyOf,
  type ReleaseKeyPair,
} from './keys.js'
export {
  MAX_CHUNK_BYTES,
  MAX_RELEASE_BYTES,
  MIN_CHUNK_BYTES,
  parseRelease,
  validateRelease,
} from './schema.js'
export { checkReleaseRevision, checkSignatures, type SignatureCheck } from './verify.js'
