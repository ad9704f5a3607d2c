import type { ExchangeLogger, ExchangeStore, PartialObject } from '../exchange/index.js'
import {
  PvCtrlNotFoundError,
  PvCtrlObjectCorruptError,
  type PvObjectChunks,
} from '../pantavisor/index.js'
import { chunkCount, type ReleaseObject } from '../release/index.js'
import { shortId } from '../util/hex.js'

/** An object as a release installed on this device lists it. */
export interface InstalledObject {
  object: ReleaseObject
  /** chunk size of that release's chunk list */
  chunkBytes: number
}

/**
 * The entries of an object in the releases installed on this device (whose
 * revision Pantavisor runs, or ran to DONE/UPDATED); empty when none lists it.
 */
export type InstalledObjectLookup = (
  sha256: string,
) => readonly InstalledObject[] | Promise<readonly InstalledObject[]>

export interface LayeredStoreOptions {
  /** How long Pantavisor's object list (`GET /objects`) is trusted. @default 10000 */
  listingTtlMs?: number
  /** An object absent from a trusted list refreshes it, at most this often. @default 1000 */
  missRefreshMs?: number
  logger?: ExchangeLogger
  /** Clock for the list's age. @default Date.now */
  nowMs?: () => number
}

/** The exchange's store, with objects only Pantavisor holds served from there. */
export interface LayeredStore extends ExchangeStore {
  /** True when the object would be served from Pantavisor (the store lacks it). */
  servedFromPantavisor(sha256: string): Promise<boolean>
  /** Forgets Pantavisor's object list, so the next look-up asks again. */
  forgetListing(): void
}

/**
 * A lookup over the releases `installed()` returns when asked (read afresh on
 * every call, so a release that becomes installed counts at once).
 *
 * @example
 * installedLookup(() =>
 *   releases.records().filter(([, r]) => r.phase === 'installed').map(([id]) => releases.get(id)!),
 * )
 */
export function installedLookup(
  installed: () => Iterable<{ chunkBytes: number; objects: readonly ReleaseObject[] }>,
): InstalledObjectLookup {
  return sha256 => {
    const found: InstalledObject[] = []
    for (const release of installed()) {
      const object = release.objects.find(candidate => candidate.sha256 === sha256)
      if (object !== undefined) found.push({ object, chunkBytes: release.chunkBytes })
    }
    return found
  }
}

export const DEFAULT_LISTING_TTL_MS = 10_000
export const DEFAULT_MISS_REFRESH_MS = 1_000

/**
 * Layers the objects Pantavisor holds under the store: the store first; an
 * object the store lacks is served from Pantavisor when a release installed
 * here lists it and Pantavisor lists it at that size. For such an object
 * `has` is true (no download fetches it again), `chunkMap` is all ones at the
 * installed release's chunk size, and `readChunk` returns chunks verified
 * against that release's chunk hashes. `openPartial` is the store's alone.
 *
 * Any failure reading from Pantavisor answers "not held" for that chunk
 * (the peer asks elsewhere); an object Pantavisor turns out to lack makes the
 * list be fetched again, and one found corrupt is not served again.
 *
 * Because `has` is true for such an object, a download of a newer release
 * that shares it does not fetch it into the store; the hand-over's
 * completeness check accepts an object Pantavisor lists at the right size.
 *
 * Known shortcoming: a chunk request served from Pantavisor holds an upload
 * slot for as long as pv-ctrl takes (up to `readTimeoutMs`).
 */
export function layeredStore(
  store: ExchangeStore,
  pvChunks: PvObjectChunks,
  lookup: InstalledObjectLookup,
  options: LayeredStoreOptions = {},
): LayeredStore {
  const listing = new PantavisorListing(pvChunks, options)
  const log = options.logger

  /** The installed entry Pantavisor can serve the object as, at `chunkBytes` when given. */
  const fromPantavisor = async (
    sha256: string,
    chunkBytes?: number,
  ): Promise<InstalledObject | undefined> => {
    if (pvChunks.corruption(sha256) !== undefined) return undefined
    const entries = (await lookup(sha256)).filter(
      entry => chunkBytes === undefined || entry.chunkBytes === chunkBytes,
    )
    if (entries.length === 0) return undefined
    const size = await listing.sizeOf(sha256)
    return entries.find(entry => entry.object.size === size)
  }

  return {
    async has(sha256) {
      if (await store.has(sha256)) return true
      return (await fromPantavisor(sha256)) !== undefined
    },

    async chunkMap(sha256, chunkBytes) {
      if (await store.has(sha256)) return store.chunkMap(sha256, chunkBytes)
      // a partial in the store and the whole object in Pantavisor: every chunk can be served
      const entry = await fromPantavisor(sha256, chunkBytes)
      if (entry !== undefined) return fullMap(chunkCount(entry.object.size, chunkBytes))
      return store.chunkMap(sha256, chunkBytes)
    },

    async readChunk(sha256, index, chunkBytes) {
      const local = await store.readChunk(sha256, index, chunkBytes)
      if (local !== undefined) return local
      const entry = await fromPantavisor(sha256, chunkBytes)
      if (entry === undefined) return undefined
      try {
        return await pvChunks.readChunk({ ...entry.object, chunkBytes }, index)
      } catch (err) {
        if (err instanceof PvCtrlNotFoundError) listing.forget()
        // the reader logged corruption itself, once
        if (!(err instanceof PvCtrlObjectCorruptError)) {
          log?.debug(
            { object: shortId(sha256), chunk: index, err: (err as Error).message },
            'chunk not read from pantavisor',
          )
        }
        return undefined
      }
    },

    openPartial(spec): Promise<PartialObject> {
      return store.openPartial(spec)
    },

    async servedFromPantavisor(sha256) {
      if (await store.has(sha256)) return false
      return (await fromPantavisor(sha256)) !== undefined
    },

    forgetListing() {
      listing.forget()
    },
  }
}

/** Pantavisor's object list, fetched at most once at a time and trusted for a while. */
class PantavisorListing {
  readonly #pvChunks: PvObjectChunks
  readonly #ttlMs: number
  readonly #missRefreshMs: number
  readonly #now: () => number
  readonly #log: ExchangeLogger | undefined
  #sizes = new Map<string, number>()
  #fetchedAtMs = Number.NEGATIVE_INFINITY
  #fetching: Promise<void> | undefined
  #failing = false

  constructor(pvChunks: PvObjectChunks, options: LayeredStoreOptions) {
    this.#pvChunks = pvChunks
    this.#ttlMs = options.listingTtlMs ?? DEFAULT_LISTING_TTL_MS
    this.#missRefreshMs = options.missRefreshMs ?? DEFAULT_MISS_REFRESH_MS
    this.#now = options.nowMs ?? Date.now
    this.#log = options.logger
  }

  async sizeOf(sha256: string): Promise<number | undefined> {
    const ageMs = this.#now() - this.#fetchedAtMs
    if (ageMs >= this.#ttlMs || (!this.#sizes.has(sha256) && ageMs >= this.#missRefreshMs)) {
      await this.#refresh()
    }
    return this.#sizes.get(sha256)
  }

  forget(): void {
    this.#fetchedAtMs = Number.NEGATIVE_INFINITY
  }

  #refresh(): Promise<void> {
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = undefined
    })
    return this.#fetching
  }

  async #fetch(): Promise<void> {
    try {
      const objects = await this.#pvChunks.listObjects()
      this.#sizes = new Map(objects.map(object => [object.sha256, object.size]))
      if (this.#failing) this.#log?.info({ objects: objects.length }, 'pantavisor object list back')
      this.#failing = false
    } catch (err) {
      // pv-ctrl away (a reboot?): serve nothing from it until the next try
      this.#sizes = new Map()
      if (!this.#failing) {
        this.#log?.warn({ err: (err as Error).message }, 'pantavisor object list unavailable')
      }
      this.#failing = true
    }
    this.#fetchedAtMs = this.#now()
  }
}

/** Bit i set for every chunk i < count, LSB first in each byte. */
function fullMap(count: number): Uint8Array {
  const map = new Uint8Array(Math.ceil(count / 8)).fill(0xff)
  const spare = map.byteLength * 8 - count
  if (spare > 0) map[map.byteLength - 1] = 0xff >> spare
  return map
}
