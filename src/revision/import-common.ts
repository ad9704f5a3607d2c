import { DEFAULT_MAX_STATE_BYTES } from './constants.js'
import { ObjectSinkError } from './errors.js'
import { verifiedBytes, type ObjectSink } from './objects.js'
import type { Revision } from './revision.js'

/** One object of an imported revision. */
export interface ImportedObject {
  sha256: string
  size: number
  /** The sink already had it; its bytes were still read and verified, but not handed over. */
  alreadyPresent: boolean
}

export interface ImportResult {
  revision: Revision
  /** Every object the revision references, in the order they were imported. */
  objects: ImportedObject[]
  /** Things worth telling the operator that did not stop the import (e.g. unreferenced objects skipped). */
  warnings: string[]
}

export interface ImportOptions {
  /** Called once per warning as it happens, besides collecting it in `warnings`. */
  onWarning?: (message: string) => void
  /**
   * Largest state accepted, in bytes; a larger `json` is refused before it is read.
   * @default 16777216 (16 MiB)
   */
  maxStateBytes?: number
}

export function maxStateBytesOf(options: ImportOptions | undefined): number {
  return options?.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES
}

/** Collects warnings and forwards each to the caller's callback. */
export function warningCollector(options: ImportOptions | undefined): {
  warnings: string[]
  warn: (message: string) => void
} {
  const warnings: string[] = []
  return {
    warnings,
    warn: message => {
      warnings.push(message)
      options?.onWarning?.(message)
    },
  }
}

/**
 * Verifies one object's bytes and hands them to the sink. The importer does
 * the hashing (verifiedBytes withholds the last chunk until the hash
 * matched), so a sink that only commits after `size` bytes never commits a
 * bad object; the store's own check is a second line. An object the sink
 * already has is still read through and verified, so a corrupt export is
 * refused either way.
 */
export async function importObject(
  sink: ObjectSink,
  sha256: string,
  size: number,
  bytes: AsyncIterable<Uint8Array>,
  origin: string,
): Promise<ImportedObject> {
  const verified = verifiedBytes(bytes, sha256, size, origin)
  if (await sink.has(sha256)) {
    for await (const _ of verified) {
      // read to the end so the hash is checked
    }
    return { sha256, size, alreadyPresent: true }
  }

  let finished = false
  const tracked = (async function* () {
    yield* verified
    finished = true
  })()
  await sink.put(sha256, size, tracked)
  if (!finished) throw new ObjectSinkError(sha256, size)
  return { sha256, size, alreadyPresent: false }
}
