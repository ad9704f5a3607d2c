import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { isSha256Hex } from '../util/hex.js'
import { InvalidObjectIdError } from './errors.js'

/** Mode of every directory the store creates: the device's objects are its own business. */
export const DIR_MODE = 0o700
/** Mode of every file the store creates. */
export const FILE_MODE = 0o600

/**
 * Every path the store touches, built in one place so that no path is ever made from an
 * unchecked id.
 */
export class Layout {
  readonly objects: string
  readonly partial: string
  readonly tmp: string
  readonly quarantine: string
  readonly releases: string
  readonly deviceState: string
  readonly lock: string

  constructor(readonly dataDir: string) {
    this.objects = join(dataDir, 'objects')
    this.partial = join(dataDir, 'partial')
    this.tmp = join(dataDir, 'tmp')
    this.quarantine = join(dataDir, 'quarantine')
    this.releases = join(dataDir, 'releases')
    this.deviceState = join(dataDir, 'device-state.json')
    this.lock = join(dataDir, 'lock')
  }

  /** The directories openStore creates. */
  get directories(): string[] {
    return [this.objects, this.partial, this.tmp, this.quarantine, this.releases]
  }

  object(sha256: string): string {
    return join(this.objects, checkId(sha256))
  }

  partialData(sha256: string): string {
    return join(this.partial, checkId(sha256))
  }

  partialMeta(sha256: string): string {
    return join(this.partial, `${checkId(sha256)}.meta.json`)
  }

  partialChunks(sha256: string): string {
    return join(this.partial, `${checkId(sha256)}.chunks`)
  }

  release(id: string): string {
    return join(this.releases, `${checkId(id, 'release')}.json`)
  }

  /** A fresh name in tmp/; tmp/ is on the same filesystem, so rename out of it is atomic. */
  tempFile(label: string): string {
    return join(this.tmp, `${label}.${process.pid}.${randomBytes(6).toString('hex')}`)
  }

  /** A name in quarantine/ that does not clash with earlier quarantines of the same object. */
  quarantined(sha256: string): string {
    return join(
      this.quarantine,
      `${checkId(sha256)}.${Date.now()}.${randomBytes(3).toString('hex')}`,
    )
  }
}

/** Throws InvalidObjectIdError unless `id` is 64 lowercase hex characters. */
export function checkId(id: unknown, kind = 'object'): string {
  if (!isSha256Hex(id)) throw new InvalidObjectIdError(id, kind)
  return id
}

/** If `name` is a partial/ file name, the object id and which of the three files it is. */
export function parsePartialName(
  name: string,
): { sha256: string; kind: 'data' | 'meta' | 'chunks' } | undefined {
  const sha256 = name.slice(0, 64)
  if (!isSha256Hex(sha256)) return undefined
  const rest = name.slice(64)
  if (rest === '') return { sha256, kind: 'data' }
  if (rest === '.meta.json') return { sha256, kind: 'meta' }
  if (rest === '.chunks') return { sha256, kind: 'chunks' }
  return undefined
}
