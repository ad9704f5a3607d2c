/** Every object of a release: its id, size and the sha256 of each chunk. */
export interface ReleaseObject {
  /** sha256 hex of the whole object: Pantavisor's object id */
  sha256: string
  /** size in bytes */
  size: number
  /** sha256 hex of each `chunkBytes` slice, in order; the last one may be shorter */
  chunks: string[]
}

/** The revision a release names: its id and the exact canonical state text. */
export interface ReleaseRevision {
  /** sha256 hex of the UTF-8 bytes of `state` */
  sha256: string
  /** the canonical Pantavisor state, byte for byte as it will be handed over */
  state: string
}

/** Everything a release says, without its signatures: this is what gets signed. */
export interface ReleaseBody {
  format: 'pvswarm-release@1'
  /** the fleet this release is for */
  fleet: string
  /** monotonically increasing per fleet: a device never accepts a lower one */
  sequence: number
  /** RFC 3339 UTC time of issue */
  issuedAt: string
  /** RFC 3339 UTC time after which no device accepts it; absent = never */
  expiresAt?: string
  /** slice size of every object's chunk list */
  chunkBytes: number
  revision: ReleaseRevision
  /** distinct objects of the revision, sorted by sha256 */
  objects: ReleaseObject[]
}

export interface ReleaseSignature {
  /** the signer's public key, `ed25519:<base64url>` */
  key: string
  /** ed25519 signature over the release's signing payload, base64url */
  signature: string
}

/** A release as it travels and is stored: the body plus one or more signatures. */
export interface Release extends ReleaseBody {
  signatures: ReleaseSignature[]
}
