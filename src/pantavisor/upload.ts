import type { Release } from '../release/index.js'
import { ObjectNotFoundError, type Store } from '../store/index.js'
import { shortId } from '../util/hex.js'
import type { PvCtrlClient } from './client.js'
import { PvCtrlBadChecksumError, PvCtrlNoSpaceError } from './errors.js'
import {
  HandoverIncompleteError,
  HandoverNoSpaceError,
  HandoverObjectRejectedError,
} from './handover-errors.js'

/**
 * Checks that every object of the release is complete in the store with the
 * size the release gives it, and that the state text matches its id.
 *
 * @throws HandoverIncompleteError naming the first thing missing or wrong
 */
export async function checkComplete(
  store: Store,
  release: Release,
  id: string,
  stateSha256: string,
  client?: PvCtrlClient,
): Promise<void> {
  if (stateSha256 !== release.revision.sha256) {
    throw new HandoverIncompleteError(
      `release ${shortId(id)}: revision state hashes to ${stateSha256}, expected ${release.revision.sha256}`,
    )
  }
  // objects whose store copy was dropped because Pantavisor holds them (no second copy)
  let heldByPantavisor: Map<string, number> | undefined
  for (const object of release.objects) {
    let size: number
    try {
      size = await store.size(object.sha256)
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err
      heldByPantavisor ??= await pantavisorObjects(client)
      if (heldByPantavisor.get(object.sha256) === object.size) continue
      throw new HandoverIncompleteError(
        `release ${shortId(id)} is not complete: object ${object.sha256} is not in the store`,
        { cause: err },
      )
    }
    if (size !== object.size) {
      throw new HandoverIncompleteError(
        `release ${shortId(id)}: object ${object.sha256} is ${size} bytes in the store, expected ${object.size}`,
      )
    }
  }
}

async function pantavisorObjects(client: PvCtrlClient | undefined): Promise<Map<string, number>> {
  if (client === undefined) return new Map()
  try {
    return new Map((await client.listObjects()).map(object => [object.sha256, object.size]))
  } catch {
    // unreachable now: the object counts as missing, which is the safe answer
    return new Map()
  }
}

export interface UploadInit {
  client: PvCtrlClient
  store: Store
  release: Release
  signal: AbortSignal
  /** called after each object Pantavisor stored */
  onUploaded(sha256: string, sizeBytes: number): Promise<void>
}

/**
 * Sends Pantavisor every object of the release it does not list yet, each
 * streamed from the store. An object listed with another size (an upload cut
 * off by a kill) is sent again; Pantavisor re-hashes what it receives. After
 * sending, the listing is read again: Pantavisor can answer 200 to an upload
 * that ran out of space and keep a truncated file.
 *
 * @returns how many objects and bytes were sent
 * @throws HandoverObjectRejectedError on 422 (after re-verifying the store copy)
 * @throws HandoverNoSpaceError on 507, or when an object is still missing after its upload
 */
export async function uploadMissingObjects(
  init: UploadInit,
): Promise<{ sentObjects: number; sentBytes: number }> {
  const { client, store, release, signal } = init
  const total = release.objects.length
  const missing = await client.findMissingObjects(release.objects)
  let held = total - missing.length
  let sentBytes = 0

  for (const object of missing) {
    signal.throwIfAborted()
    try {
      await client.putObject(
        object.sha256,
        object.size,
        abortable(store.read(object.sha256), signal),
      )
    } catch (err) {
      if (err instanceof PvCtrlBadChecksumError) {
        const storeCopy = await store.verifyObject(object.sha256)
        throw new HandoverObjectRejectedError(object.sha256, storeCopy, { cause: err })
      }
      if (err instanceof PvCtrlNoSpaceError) {
        const evidence = '507 "Not enough disk space available"'
        throw new HandoverNoSpaceError(object.sha256, object.size, held, total, evidence, {
          cause: err,
        })
      }
      throw err
    }
    held++
    sentBytes += object.size
    await init.onUploaded(object.sha256, object.size)
  }

  if (missing.length > 0) {
    const short = await client.findMissingObjects(release.objects)
    const first = short[0]
    if (first !== undefined) {
      const evidence = 'it answered 200 but does not hold the whole object: its disk filled up'
      throw new HandoverNoSpaceError(
        first.sha256,
        first.size,
        total - short.length,
        total,
        evidence,
      )
    }
  }
  return { sentObjects: missing.length, sentBytes }
}

/** Stops feeding an upload when the hand-over is stopped; the request then fails. */
async function* abortable(
  source: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  for await (const piece of source) {
    signal.throwIfAborted()
    yield piece
  }
}
