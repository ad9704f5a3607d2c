/**
 * Body of a hash-pool thread (see hash-pool.ts): sha256 of chunks, and the whole-object sha256
 * of each object being filled, off the event loop. Messages are handled one at a time, in the
 * order they were posted, which is what makes the whole-object hash safe: this thread alone
 * decides which chunk is the next one in order, and feeds a chunk from the network only in the
 * same step in which it matched its own hash.
 */
import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashReply, HashRequest } from './hash-messages.js'

interface ObjectState {
  hash: Hash
  /** the next chunk index the whole hash is waiting for */
  next: number
}

const objects = new Map<number, ObjectState>()

function stateOf(object: number): ObjectState {
  let state = objects.get(object)
  if (state === undefined) {
    state = { hash: createHash('sha256'), next: 0 }
    objects.set(object, state)
  }
  return state
}

function handle(request: HashRequest): HashReply | undefined {
  switch (request.op) {
    case 'chunk': {
      const sha256 = createHash('sha256').update(request.bytes).digest('hex')
      const state = stateOf(request.object)
      if (sha256 === request.expected && request.index === state.next) {
        state.hash.update(request.bytes)
        state.next++
      }
      return { job: request.job, sha256, next: state.next, bytes: request.bytes }
    }
    case 'feed': {
      // bytes read back from disk, of a chunk that was checked when it was written
      const state = stateOf(request.object)
      if (request.index === state.next) {
        state.hash.update(request.bytes)
        state.next++
      }
      return { job: request.job, next: state.next, bytes: request.bytes }
    }
    case 'digest': {
      const state = stateOf(request.object)
      objects.delete(request.object)
      return { job: request.job, sha256: state.hash.digest('hex'), next: state.next }
    }
    case 'forget':
      objects.delete(request.object)
      return undefined
  }
}

parentPort!.on('message', (request: HashRequest) => {
  const reply = handle(request)
  if (reply === undefined) return
  // the buffer goes back to the caller, which writes it to disk or reads the next chunk into it
  parentPort!.postMessage(
    reply,
    reply.bytes === undefined ? [] : [reply.bytes.buffer as ArrayBuffer],
  )
})
