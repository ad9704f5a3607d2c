/** What the event loop and a hash-pool thread (hash-worker.ts) say to each other. */

/** `object` is a number the pool gives each object being filled; `job` pairs a reply. */
export type HashRequest =
  | {
      op: 'chunk'
      job: number
      object: number
      index: number
      /** the chunk's sha256 hex from the object's chunk list */
      expected: string
      bytes: Uint8Array
    }
  | { op: 'feed'; job: number; object: number; index: number; bytes: Uint8Array }
  | { op: 'digest'; job: number; object: number }
  | { op: 'forget'; object: number }

export interface HashReply {
  job: number
  /** the chunk's sha256 (op chunk) or the whole object's (op digest) */
  sha256?: string
  /** the next chunk the whole-object hash waits for, after this request */
  next: number
  /** the buffer sent, handed back */
  bytes?: Uint8Array
}
