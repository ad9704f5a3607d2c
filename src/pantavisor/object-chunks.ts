import { createHash } from 'node:crypto'
import { shortId } from '../util/hex.js'
import { ChunkCache } from './chunk-cache.js'
import type { PvCtrlObject } from './answers.js'
import type { PvCtrlCallOptions, PvCtrlClient } from './client.js'
import { PvCtrlObjectCorruptError, PvCtrlTimeoutError, PvCtrlUnavailableError } from './errors.js'
import { runPass, type PassContext } from './object-pass.js'
import {
  checkObject,
  chunkKey,
  NOBODY_WAITS,
  type ChunkedObject,
  type ObjectReads,
  type Waiter,
} from './object-reads.js'
import { Slots } from '../util/slots.js'

export type { ChunkedObject } from './object-reads.js'

// Why passes, and no stream kept open between requests
//
// pv-ctrl has no range requests, and downloaders ask for chunks in random
// order, so chunk i costs reading chunks 0…i. Keeping one stream per object
// parked at the next chunk is not safe: Pantavisor sends an object 4 KiB per
// event-loop turn with evhttp_send_reply_chunk and never waits for the socket
// to drain (ctrl/ctrl_download.c), so a stream we stop reading grows
// Pantavisor's own output buffer towards the whole object. A stream is
// therefore read at full speed and closed as soon as nobody needs more of it.
//
// What is done instead, per object:
// - one pass at a time reads from the start and serves every request at or
//   ahead of its position (an elevator); requests behind it wait for the next
//   pass, which starts as soon as this one ends;
// - every chunk it passes is verified and kept in a byte-bounded cache
//   (chunk-cache.ts), and after the last request it reads ahead while the
//   cache has room for chunks nobody has asked for yet, so an object that fits
//   in the cache is read from pv-ctrl once;
// - at most `maxStreams` passes run at once, over all objects.
//
// Measured against the emulator, bytes read from pv-ctrl per byte served, one
// downloader asking in random order (the tests print the first and last; the
// exchange runs at other cache sizes were one-off runs of
// test/node/serve-from-pantavisor.test.ts):
// - rev1's kernel.img, 12 chunks of 1 MiB: 6.9 with one stream per request
//   and no cache, 1.0 with the default 16 MiB cache (one stream);
// - all of rev1 (9 objects, 27 chunks) over the exchange between two nodes:
//   5.6 without a cache, 4.9 with 2 MiB, 1.0 with the default;
// - 128 chunks of 8 KiB: 68 without a cache, 64 with 8 chunks cached, 56
//   with 32, 1.0 with the default (the object fits).
// The default holds a kernel or a small root filesystem whole; an object
// larger than the cache costs O(chunks² / cached chunks) reads, the
// floor for bounded memory and random order (even in order it is chunks² /
// (2 × cached chunks), since a stream cannot wait for the next request).
// Known shortcoming: serving an object much larger than the cache (a root
// filesystem of hundreds of MiB) from Pantavisor is slow and keeps
// Pantavisor's event loop busy. Range requests in pv-ctrl would remove it.

/** What the reader needs of the pv-ctrl client. */
export type PvObjectSource = Pick<PvCtrlClient, 'getObject' | 'listObjects'>

/** Structured logger (a pino logger fits). */
export interface ObjectChunksLogger {
  debug(fields: object, message: string): void
  warn(fields: object, message: string): void
}

export interface PvObjectChunksOptions {
  /** GET /objects/<sha> streams open at once, over all objects. @default 2 */
  maxStreams?: number
  /** Verified chunks kept in memory, in bytes. 0 turns the cache off. @default 16777216 (16 MiB) */
  cacheBytes?: number
  /**
   * Longest one `readChunk` may take, waiting for a stream included; then it
   * fails with PvCtrlTimeoutError. A stalled socket fails sooner, after the
   * client's `requestTimeoutMs`.
   * @default 60000
   */
  readTimeoutMs?: number
  logger?: ObjectChunksLogger
}

/** Counters, for metrics and for measuring the read amplification. */
export interface PvObjectChunksStats {
  /** GET /objects/<sha> requests made */
  streamsOpened: number
  /** bytes pulled from pv-ctrl */
  bytesRead: number
  /** chunks handed to callers */
  chunksServed: number
  /** of those, answered from the cache */
  cacheHits: number
  /** bytes the cache holds now */
  cachedBytes: number
  /** objects found not to match their release */
  corruptObjects: number
}

export const DEFAULT_OBJECT_STREAMS = 2
export const DEFAULT_CHUNK_CACHE_BYTES = 16 * 1024 * 1024
export const DEFAULT_CHUNK_READ_TIMEOUT_MS = 60_000

/**
 * Chunks of objects Pantavisor holds, read through pv-ctrl and verified
 * against a release's chunk hashes before anyone sees them. An object found
 * not to match is never served again by this reader.
 *
 * @example
 * const chunks = new PvObjectChunks(new PvCtrlClient())
 * const bytes = await chunks.readChunk({ ...releaseObject, chunkBytes: release.chunkBytes }, 7)
 */
export class PvObjectChunks {
  readonly #source: PvObjectSource
  readonly #slots: Slots
  readonly #cache: ChunkCache
  readonly #readTimeoutMs: number
  readonly #logger: ObjectChunksLogger | undefined
  readonly #reads = new Map<string, ObjectReads>()
  readonly #corrupt = new Map<string, PvCtrlObjectCorruptError>()
  readonly #closed = new AbortController()
  readonly #stats = { streamsOpened: 0, bytesRead: 0, chunksServed: 0, cacheHits: 0 }
  readonly #passContext: PassContext

  constructor(source: PvObjectSource, options: PvObjectChunksOptions = {}) {
    this.#source = source
    this.#slots = new Slots(options.maxStreams ?? DEFAULT_OBJECT_STREAMS, 'maxStreams')
    this.#cache = new ChunkCache(options.cacheBytes ?? DEFAULT_CHUNK_CACHE_BYTES)
    this.#readTimeoutMs = options.readTimeoutMs ?? DEFAULT_CHUNK_READ_TIMEOUT_MS
    if (!(this.#readTimeoutMs > 0)) {
      throw new RangeError(`readTimeoutMs: expected a positive number, got ${this.#readTimeoutMs}`)
    }
    this.#logger = options.logger
    this.#passContext = {
      source,
      cache: this.#cache,
      stats: this.#stats,
      closed: this.#closed.signal,
      markCorrupt: (spec, index, found) => this.#markCorrupt(spec, index, found),
    }
  }

  /** Every object Pantavisor holds (`GET /objects`). */
  listObjects(options: PvCtrlCallOptions = {}): Promise<PvCtrlObject[]> {
    return this.#source.listObjects(options)
  }

  /**
   * Chunk `index` of `object`, verified. The bytes are the caller's own.
   *
   * @throws PvCtrlObjectCorruptError when Pantavisor's copy does not match
   *   (now or before: the object is not read again)
   * @throws PvCtrlNotFoundError when Pantavisor does not hold the object
   * @throws PvCtrlTimeoutError after `readTimeoutMs`, or when pv-ctrl stalls
   * @throws RangeError for a malformed object description or index
   */
  async readChunk(
    object: ChunkedObject,
    index: number,
    options: PvCtrlCallOptions = {},
  ): Promise<Uint8Array> {
    const count = checkObject(object)
    if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
      throw new RangeError(
        `object ${shortId(object.sha256)}: chunk index must be 0 to ${count - 1}, got ${index}`,
      )
    }
    this.#throwIfClosed()
    options.signal?.throwIfAborted()
    const corrupt = this.#corrupt.get(object.sha256)
    if (corrupt !== undefined) throw corrupt

    const cached = this.#cache.take(chunkKey(object, index))
    if (cached !== undefined) {
      this.#stats.cacheHits++
      this.#stats.chunksServed++
      return Buffer.from(cached)
    }
    if (object.size === 0) return this.#emptyObject(object)
    return this.#wait(object, count, index, options.signal)
  }

  /** The reason an object is not served, if it was found corrupt. */
  corruption(sha256: string): PvCtrlObjectCorruptError | undefined {
    return this.#corrupt.get(sha256)
  }

  stats(): PvObjectChunksStats {
    return {
      ...this.#stats,
      cachedBytes: this.#cache.bytes,
      corruptObjects: this.#corrupt.size,
    }
  }

  /** Ends every pass; requests waiting fail with PvCtrlUnavailableError. */
  close(): void {
    if (this.#closed.signal.aborted) return
    const reason = new PvCtrlUnavailableError('pv-ctrl object chunk reader was closed')
    this.#closed.abort(reason)
    for (const reads of this.#reads.values()) this.#failAll(reads, reason)
    this.#cache.clear()
  }

  #throwIfClosed(): void {
    if (this.#closed.signal.aborted) throw this.#closed.signal.reason
  }

  /** An empty object needs no stream; Pantavisor listing it is the caller's check. */
  #emptyObject(object: ChunkedObject): Uint8Array {
    const empty = new Uint8Array(0)
    const got = createHash('sha256').digest('hex')
    if (got !== object.chunks[0]) throw this.#markCorrupt(object, 0, got)
    this.#stats.chunksServed++
    return empty
  }

  #wait(
    object: ChunkedObject,
    count: number,
    index: number,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const key = `${object.sha256}:${object.chunkBytes}`
    let reads = this.#reads.get(key)
    if (reads === undefined) {
      reads = {
        key,
        spec: object,
        count,
        waiters: new Map(),
        waiting: 0,
        running: false,
        pass: undefined,
      }
      this.#reads.set(key, reads)
    }
    const target = reads

    return new Promise<Uint8Array>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const waiter: Waiter = {
        index,
        resolve: bytes => {
          settle()
          resolve(bytes)
        },
        reject: err => {
          settle()
          reject(err)
        },
      }
      const leave = (err: unknown): void => {
        if (this.#removeWaiter(target, waiter)) waiter.reject(err)
      }
      const onAbort = (): void => leave(signal?.reason)
      const timer = setTimeout(
        () =>
          leave(
            new PvCtrlTimeoutError(
              `object ${object.sha256} chunk ${index}: not read from pv-ctrl within ${this.#readTimeoutMs} ms`,
            ),
          ),
        this.#readTimeoutMs,
      )
      signal?.addEventListener('abort', onAbort, { once: true })

      const list = target.waiters.get(index)
      if (list === undefined) target.waiters.set(index, [waiter])
      else list.push(waiter)
      target.waiting++
      if (!target.running) void this.#run(target)
    })
  }

  #removeWaiter(reads: ObjectReads, waiter: Waiter): boolean {
    const list = reads.waiters.get(waiter.index)
    const at = list?.indexOf(waiter) ?? -1
    if (list === undefined || at < 0) return false
    list.splice(at, 1)
    if (list.length === 0) reads.waiters.delete(waiter.index)
    reads.waiting--
    // a pass nobody waits for only ties up pv-ctrl
    if (reads.waiting === 0) reads.pass?.abort(NOBODY_WAITS)
    return true
  }

  /** Runs passes over one object until nobody waits for it. */
  async #run(reads: ObjectReads): Promise<void> {
    reads.running = true
    try {
      while (reads.waiting > 0 && !this.#closed.signal.aborted) {
        let release: () => void
        try {
          release = await this.#slots.acquire(this.#closed.signal)
        } catch {
          return
        }
        try {
          if (reads.waiting === 0) return
          await runPass(this.#passContext, reads)
        } catch (err) {
          if (err !== NOBODY_WAITS && !this.#closed.signal.aborted) this.#failAll(reads, err)
        } finally {
          reads.pass = undefined
          release()
        }
      }
    } finally {
      reads.running = false
      if (reads.waiting === 0) this.#reads.delete(reads.key)
    }
  }

  #markCorrupt(
    spec: ChunkedObject,
    index: number | undefined,
    found: string,
  ): PvCtrlObjectCorruptError {
    const message =
      index === undefined
        ? `object ${spec.sha256} from pv-ctrl: expected ${spec.size} bytes hashing to its id, got ${found}`
        : `object ${spec.sha256} chunk ${index} from pv-ctrl: expected sha256 ${spec.chunks[index]}, got ${found}`
    const error = new PvCtrlObjectCorruptError(message, spec.sha256, index)
    if (!this.#corrupt.has(spec.sha256)) {
      this.#corrupt.set(spec.sha256, error)
      this.#cache.dropPrefix(`${spec.sha256}:`)
      this.#logger?.warn(
        { object: shortId(spec.sha256), chunk: index, err: message },
        'pantavisor copy of object is corrupt: not served',
      )
    }
    return this.#corrupt.get(spec.sha256) ?? error
  }

  #failAll(reads: ObjectReads, err: unknown): void {
    const waiters = [...reads.waiters.values()].flat()
    reads.waiters.clear()
    reads.waiting = 0
    for (const waiter of waiters) waiter.reject(err)
    if (waiters.length > 0) {
      this.#logger?.debug(
        { object: shortId(reads.spec.sha256), requests: waiters.length, err: String(err) },
        'pv-ctrl object read failed',
      )
    }
  }
}
