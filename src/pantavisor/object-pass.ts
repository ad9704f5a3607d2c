import { createHash } from 'node:crypto'
import { chunkLength } from '../release/index.js'
import type { ChunkCache } from './chunk-cache.js'
import { PvCtrlBadChecksumError, type PvCtrlObjectCorruptError } from './errors.js'
import type { PvObjectSource } from './object-chunks.js'
import { chunkKey, type ChunkedObject, type ObjectReads } from './object-reads.js'

/** What a pass uses of its reader. */
export interface PassContext {
  source: PvObjectSource
  cache: ChunkCache
  stats: { streamsOpened: number; bytesRead: number; chunksServed: number }
  /** the reader's own end */
  closed: AbortSignal
  /** records the object as corrupt and returns the error to throw */
  markCorrupt(
    spec: ChunkedObject,
    index: number | undefined,
    found: string,
  ): PvCtrlObjectCorruptError
}

/**
 * One sequential read from the start: verifies and hands out every chunk
 * someone waits for, keeps what the cache takes, and stops as soon as
 * nothing ahead is wanted.
 */
export async function runPass(ctx: PassContext, reads: ObjectReads): Promise<void> {
  const { spec, count } = reads
  const controller = new AbortController()
  reads.pass = controller
  const signal = AbortSignal.any([controller.signal, ctx.closed])
  ctx.stats.streamsOpened++

  const scratch = Buffer.allocUnsafe(Math.min(spec.chunkBytes, spec.size))
  let index = 0
  let length = chunkLength(spec.size, spec.chunkBytes, 0)
  let filled = 0
  let received = 0
  try {
    for await (const piece of ctx.source.getObject(spec.sha256, { signal })) {
      received += piece.byteLength
      ctx.stats.bytesRead += piece.byteLength
      if (received > spec.size) {
        throw ctx.markCorrupt(spec, undefined, `more than ${spec.size} bytes`)
      }
      let at = 0
      while (at < piece.byteLength) {
        const take = Math.min(length - filled, piece.byteLength - at)
        scratch.set(piece.subarray(at, at + take), filled)
        filled += take
        at += take
        if (filled < length) break
        chunkDone(ctx, reads, index, scratch.subarray(0, length))
        index++
        if (index < count && !wantsMore(ctx, reads, index)) return
        length = chunkLength(spec.size, spec.chunkBytes, index)
        filled = 0
      }
    }
  } catch (err) {
    if (signal.aborted) throw controller.signal.aborted ? controller.signal.reason : err
    // short, or every chunk matched but the whole did not (the chunk list lies about the object)
    if (err instanceof PvCtrlBadChecksumError) {
      const found = index < count ? `only ${received} bytes` : err.message
      throw ctx.markCorrupt(spec, undefined, found)
    }
    throw err
  }
  if (index < count) throw ctx.markCorrupt(spec, undefined, `only ${received} bytes`)
}

/** True when the pass should go on to chunk `next`. */
function wantsMore(ctx: PassContext, reads: ObjectReads, next: number): boolean {
  for (const index of reads.waiters.keys()) if (index >= next) return true
  // read ahead while the cache takes chunks without pushing out ones nobody asked for yet
  if (!ctx.cache.fitsAhead(chunkLength(reads.spec.size, reads.spec.chunkBytes, next))) {
    return false
  }
  for (let index = next; index < reads.count; index++) {
    if (!ctx.cache.has(chunkKey(reads.spec, index))) return true
  }
  return false
}

/** Verifies a chunk read whole, if anyone or the cache wants it, and hands it out. */
function chunkDone(ctx: PassContext, reads: ObjectReads, index: number, bytes: Buffer): void {
  const { spec } = reads
  const key = chunkKey(spec, index)
  const waiters = reads.waiters.get(index)
  let onTheWay = false
  for (const wanted of reads.waiters.keys()) if (wanted > index) onTheWay = true
  const cacheIt = !ctx.cache.has(key) && (onTheWay || ctx.cache.fitsAhead(bytes.byteLength))
  if (waiters === undefined && !cacheIt) return

  const got = createHash('sha256').update(bytes).digest('hex')
  if (got !== spec.chunks[index]) throw ctx.markCorrupt(spec, index, got)
  const copy = Buffer.from(bytes)

  if (waiters === undefined) {
    ctx.cache.addAhead(key, copy, onTheWay)
    return
  }
  reads.waiters.delete(index)
  reads.waiting -= waiters.length
  ctx.stats.chunksServed += waiters.length
  const cached = ctx.cache.addServed(key, copy)
  waiters.forEach((waiter, at) => waiter.resolve(at === 0 && !cached ? copy : Buffer.from(copy)))
}
