import { Worker } from 'node:worker_threads'
import { HashThreadError, StoreClosedError } from './errors.js'
import type { HashReply, HashRequest } from './hash-messages.js'

/**
 * V8 limits of a hash thread. It keeps no more than a Hash per object and the messages in
 * flight (the chunk bytes are moved, outside its heap), so a small heap is plenty, and the
 * default young generation (16 MiB semi-spaces) would only be resident memory for nothing.
 */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 }

interface Thread {
  worker: Worker
  pending: Map<number, { resolve(reply: HashReply): void; reject(err: Error): void }>
  failure: Error | undefined
}

/**
 * A few threads that hash chunks, and the whole objects they make up, off the event loop
 * (hash-worker.ts). Each object being filled stays on one thread, so its chunks are hashed in
 * the order they were handed over. A buffer handed to the pool is moved, not copied, to the
 * thread and back: the caller must not touch it until the answer comes.
 *
 * The threads hold the process open only while they have work; close() ends them.
 */
export class HashPool {
  /** started on first use: a device that only serves never pays for them */
  readonly #threads: Array<Thread | undefined>
  #nextJob = 1
  #nextObject = 1
  #closed = false

  constructor(threads: number) {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`hash threads: expected a positive integer, got ${threads}`)
    }
    this.#threads = Array.from({ length: threads }, () => undefined)
  }

  /** The whole-object hash of one object being filled, and the checks of its chunks. */
  object(): PooledObjectHash {
    if (this.#closed) throw new StoreClosedError('hash pool')
    const object = this.#nextObject++
    const slot = object % this.#threads.length
    const thread = (this.#threads[slot] ??= this.#start())
    return new PooledObjectHash(object, request => this.#ask(thread, request))
  }

  /** Ends the threads; what still waits on them fails with StoreClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all(
      this.#threads.map(async thread => {
        if (thread === undefined) return
        this.#failAll(thread, new StoreClosedError('hash pool'))
        await thread.worker.terminate()
      }),
    )
  }

  #start(): Thread {
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url), {
      resourceLimits: THREAD_LIMITS,
    })
    const thread: Thread = { worker, pending: new Map(), failure: undefined }
    worker.unref()
    worker.on('message', (reply: HashReply) => {
      const waiting = thread.pending.get(reply.job)
      if (waiting === undefined) return
      thread.pending.delete(reply.job)
      if (thread.pending.size === 0) worker.unref()
      waiting.resolve(reply)
    })
    worker.on('error', err => {
      this.#failAll(
        thread,
        new HashThreadError(`hash thread failed: ${err.message}`, { cause: err }),
      )
    })
    worker.on('exit', code => {
      if (this.#closed) return
      this.#failAll(thread, new HashThreadError(`hash thread stopped (exit code ${code})`))
    })
    return thread
  }

  #failAll(thread: Thread, err: Error): void {
    thread.failure ??= err
    const waiting = [...thread.pending.values()]
    thread.pending.clear()
    for (const { reject } of waiting) reject(err)
  }

  #ask(thread: Thread, request: DistributiveOmit<HashRequest, 'job'>): Promise<HashReply> {
    if (this.#closed) return Promise.reject(new StoreClosedError('hash pool'))
    if (thread.failure !== undefined) return Promise.reject(thread.failure)
    const job = this.#nextJob++
    const message = { ...request, job } as HashRequest
    if (message.op === 'forget') {
      thread.worker.postMessage(message)
      return Promise.resolve({ job, next: 0 })
    }
    const { promise, resolve, reject } = Promise.withResolvers<HashReply>()
    thread.pending.set(job, { resolve, reject })
    // held open while an answer is owed: an await on it must not see the process end first
    thread.worker.ref()
    const transfer = 'bytes' in message ? [message.bytes.buffer as ArrayBuffer] : []
    thread.worker.postMessage(message, transfer)
    return promise
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** One object's side of the pool; see HashPool. */
export class PooledObjectHash {
  constructor(
    private readonly id: number,
    private readonly ask: (request: DistributiveOmit<HashRequest, 'job'>) => Promise<HashReply>,
  ) {}

  /**
   * The sha256 hex of chunk `index` (`bytes`, which must own its whole ArrayBuffer); the thread
   * feeds it to the whole-object hash if it matched `expected` and is the next in order. Resolves
   * with the buffer back and the index the whole hash waits for next.
   */
  async checkChunk(
    index: number,
    expected: string,
    bytes: Uint8Array,
  ): Promise<{ sha256: string; next: number; bytes: Uint8Array }> {
    const reply = await this.ask({ op: 'chunk', object: this.id, index, expected, bytes })
    return { sha256: reply.sha256!, next: reply.next, bytes: reply.bytes! }
  }

  /** Feeds chunk `index`, read back from disk, if it is the next in order. */
  async feed(index: number, bytes: Uint8Array): Promise<{ next: number; bytes: Uint8Array }> {
    const reply = await this.ask({ op: 'feed', object: this.id, index, bytes })
    return { next: reply.next, bytes: reply.bytes! }
  }

  /** The whole object's sha256 hex; the thread forgets the object. */
  async digest(): Promise<string> {
    return (await this.ask({ op: 'digest', object: this.id })).sha256!
  }

  /** The object will not be finished here (closed before complete): the thread drops it. */
  forget(): void {
    void this.ask({ op: 'forget', object: this.id }).catch(() => undefined)
  }
}
