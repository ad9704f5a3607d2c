/**
 * store/ — the device's objects on disk, verified before they are visible.
 *
 * Layout under `dataDir` (directories 0700, files 0600):
 *
 *     objects/<sha256>               complete objects; each got here by an atomic rename of a file
 *                                    whose every byte was hashed against its name
 *     partial/<sha256>               an object being filled chunk by chunk (sparse, full size)
 *     partial/<sha256>.meta.json     its size, chunkBytes and chunk hash list; written atomically
 *                                    before the first chunk
 *     partial/<sha256>.chunks        append-only log of verified chunk indexes (see chunk-log.ts)
 *     tmp/                           temp files of writes in flight; emptied at open
 *     quarantine/<sha256>.<ms>.<r>   objects fsck found rotten, kept for a post-mortem
 *     releases/<id>.json             release documents, opaque bytes, by 64-hex id
 *     device-state.json              the device's own state (anti-rollback floors, failures, …)
 *     lock                           pid and boot id of the process that has the store open
 *
 * Every temp file lives in tmp/, on the same filesystem as its target, so publishing is
 * temp + fsync + rename + fsync of the directory. A kill -9 at any moment leaves either the old
 * or the new file, and at worst loses the chunk that was being written.
 *
 * The store does no networking and makes no decisions: it refuses only what it cannot store
 * (bad bytes, no space, malformed ids).
 */
import type { ChunkBytes } from './chunk-bytes.js'
import type { ChunkedObjectSpec } from './chunks.js'
import { DiskStore } from './store.js'

export type { ChunkBytes, ChunkPieces } from './chunk-bytes.js'
export type { ChunkedObjectSpec } from './chunks.js'
export {
  ChunkIndexError,
  ChunkMismatchError,
  ChunkSizeError,
  InvalidChunkSpecError,
  InvalidDeviceStateError,
  InvalidObjectIdError,
  InvalidRangeError,
  NoSpaceError,
  ObjectHashMismatchError,
  ObjectNotFoundError,
  ObjectSizeMismatchError,
  PartialConflictError,
  StateFileError,
  StoreClosedError,
  StoreLockedError,
} from './errors.js'
export { DEFAULT_RESERVE_BYTES } from './constants.js'

export interface StoreOptions {
  /** Directory holding everything the store keeps; created (0700) if missing. */
  dataDir: string
  /**
   * Free space always kept back, so that filling objects never starves the rest of the device
   * (logs, Pantavisor's own writes).
   * @default 67108864 (64 MiB)
   */
  reserveBytes?: number
  /**
   * How many bytes the filesystem holding `dir` still has for us. For tests.
   * @default fs.statfs(dir): bavail * bsize
   */
  statFreeBytes?: (dir: string) => Promise<number>
}

/** Open (creating if needed) the store in `options.dataDir`. One process per directory. */
export function openStore(options: StoreOptions): Promise<Store> {
  return DiskStore.open(options)
}

export interface Store {
  /** Absolute path of the data directory. */
  readonly dataDir: string

  /** True when the complete object is in objects/. */
  has(sha256: string): Promise<boolean>
  /** Size of a complete object; ObjectNotFoundError if it is not complete. */
  size(sha256: string): Promise<number>
  /**
   * Store an object from a stream, hashing as it is written to a temp file; published only if
   * the length is `size` and the hash is `sha256` (ObjectSizeMismatchError,
   * ObjectHashMismatchError; nothing is left behind). Space is checked before the first byte
   * (NoSpaceError). If the object is already held, the input is still consumed and checked, and
   * the copy already held is kept. Memory stays bounded by the size of the pieces given.
   */
  put(
    sha256: string,
    size: number,
    bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void>
  /**
   * Stream a complete object, or bytes start…end (end exclusive), in pieces of at most 256 KiB.
   * Errors (ObjectNotFoundError, InvalidRangeError) surface on the first iteration.
   */
  read(sha256: string, range?: { start: number; end: number }): AsyncIterable<Uint8Array>
  /** Every complete object, sorted by id. */
  list(): Promise<Array<{ sha256: string; size: number }>>
  /** Remove an object and any partial of it that is not open. Absent is not an error. */
  remove(sha256: string): Promise<void>
  /**
   * Re-hash one complete object: 'good' when its bytes still hash to its id, 'missing' when it
   * is not complete here, 'bad' when they do not, in which case it has been moved to
   * quarantine/ (like fsck does), so the object must be fetched again.
   */
  verifyObject(sha256: string): Promise<'good' | 'bad' | 'missing'>

  /**
   * Start filling an object chunk by chunk, or resume a partial left by an earlier run (every
   * recorded chunk is re-hashed; one that no longer matches is dropped). Starting checks space
   * for the whole object, resuming for what is still missing (NoSpaceError). If the object is
   * already complete, the result reports complete. Opening an object that is already open
   * shares its state; with a different spec it is a PartialConflictError.
   */
  openPartial(spec: ChunkedObjectSpec): Promise<PartialObject>
  /**
   * Chunk `index` of `chunkBytes` from the complete object or from verified chunks of a
   * partial; undefined if not held (or past the end). `chunkBytes` need not be the partial's.
   */
  readChunk(sha256: string, index: number, chunkBytes: number): Promise<Uint8Array | undefined>
  /**
   * Which chunks of `chunkBytes` are held: bit i set for chunk i, LSB first in each byte (chunk
   * 0 is `map[0] & 1`). All ones for a complete object; undefined if nothing is held. For a
   * partial nobody has open, this is its record, re-verified only when a chunk is read.
   */
  chunkMap(sha256: string, chunkBytes: number): Promise<Uint8Array | undefined>

  /** Filesystem free space minus the reserve minus bytes still owed to writes in progress. */
  freeBytes(): Promise<number>

  /** Keep a release document (64-hex id) as exact bytes, replacing any earlier one atomically. */
  putRelease(id: string, bytes: Uint8Array): Promise<void>
  getRelease(id: string): Promise<Uint8Array | undefined>
  /** Ids of every release kept, sorted. */
  listReleaseIds(): Promise<string[]>
  /** Absent is not an error. */
  removeRelease(id: string): Promise<void>

  /**
   * The device's state; an empty state if none was saved yet. StateFileError if the file is
   * there but unusable (it is never silently reset).
   */
  readDeviceState(): Promise<DeviceState>
  /**
   * Apply `mutate` to the current state and save it atomically. Updates run one at a time, each
   * seeing the one before. If `mutate` throws, or leaves a state that does not validate
   * (InvalidDeviceStateError), nothing is saved. Returns a copy of the saved state.
   */
  updateDeviceState(mutate: (state: DeviceState) => void | Promise<void>): Promise<DeviceState>

  /**
   * Re-hash every complete object and every recorded chunk of every partial. Rotten objects are
   * moved to quarantine/; rotten chunks are dropped from their partial's record.
   */
  fsck(): Promise<FsckReport>
  /**
   * Remove every complete object and every partial whose id is not in `keep`. Partials that are
   * open are left alone. freedBytes counts object sizes and the blocks partials occupied.
   */
  gc(keep: ReadonlySet<string>): Promise<{ removed: string[]; freedBytes: number }>
  /** Close open partials (waiting for their writes) and release the directory. */
  close(): Promise<void>
}

/** A handle on an object being filled chunk by chunk. */
export interface PartialObject {
  readonly sha256: string
  readonly size: number
  readonly chunkBytes: number
  readonly chunkCount: number
  /** True when chunk `index` is held and verified. */
  has(index: number): boolean
  /** Indexes of chunks not held yet, ascending. */
  missing(): number[]
  readonly verifiedCount: number
  /** True once the object is published in objects/. */
  isComplete(): boolean
  /**
   * Verify chunk `index` against the spec (ChunkSizeError, ChunkMismatchError; nothing is
   * written) and store it. `bytes` may be the pieces the chunk arrived in: they are hashed and
   * written without being joined or copied, so they must not change until this settles. Safe to
   * call concurrently for different chunks, and for the same chunk (one stores, the other gets
   * 'already'). The whole object's sha256 is taken as chunks arrive in order (chunks that came
   * early, or were on disk from an earlier run, are read back); the write that completes the
   * object checks it and publishes; if the chunk list lied about the whole, that write throws
   * ObjectHashMismatchError, nothing is published and the partial is discarded.
   */
  writeChunk(index: number, bytes: ChunkBytes): Promise<'stored' | 'already'>
  /** A verified chunk, or undefined if not held. */
  readChunk(index: number): Promise<Uint8Array | undefined>
  /** Let go of this handle; the partial stays on disk to be resumed. */
  close(): Promise<void>
}

export interface DeviceState {
  version: 1
  fleets: Record<
    string,
    {
      /** Highest sequence accepted for this fleet. */
      highestSequence: number
      /** Newest issue time seen in an accepted release: a floor for the clock. */
      newestIssuedAtMs: number
      installedReleaseId?: string
      installedSequence?: number
    }
  >
  /** Releases that failed on this device, by release id, so they are not tried again. */
  failedReleases: Record<
    string,
    {
      fleet: string
      sequence: number
      reason: string
      atMs: number
      /** sha256 of the revision's state, so policy can refuse the same revision in another release */
      revisionSha256?: string
    }
  >
  /** Small documents other rooms persist here (e.g. the hand-over state machine). */
  rooms: Record<string, unknown>
}

export interface FsckReport {
  objectsChecked: number
  /** Complete objects whose bytes no longer hash to their id. */
  objectsBad: string[]
  chunksChecked: number
  /** Recorded partial chunks whose bytes no longer match their hash; dropped from the record. */
  chunksBad: Array<{ sha256: string; index: number }>
  /** Objects moved to quarantine/. */
  quarantined: string[]
}
