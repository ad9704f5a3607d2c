import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { pack as tarPack, type Pack } from 'tar-stream'
import { EXPORT_MODE, EXPORT_MTIME, OBJECTS_PREFIX, STATE_MEMBER } from './constants.js'
import { ExportSourceError } from './errors.js'
import type { ObjectSource } from './objects.js'
import type { Revision } from './revision.js'

export interface ExportOptions {
  /**
   * Compress the tar with gzip (what `.tgz` means).
   * @default false
   */
  gzip?: boolean
}

/**
 * Writes the revision as a pvr export: `json` first, then `objects/<sha256>`
 * in sha order, every member a regular file with mode 0644, owner 0:0 and a
 * fixed mtime, so the same revision always gives the same tar. Objects are
 * streamed from the source. `out` is ended when the export is complete and
 * destroyed when it fails (a partly written file is the caller's to remove).
 *
 * @throws ExportSourceError when the source yields a different number of bytes than it announced
 */
export async function exportPvr(
  revision: Revision,
  source: ObjectSource,
  out: NodeJS.WritableStream,
  options?: ExportOptions,
): Promise<void> {
  const pack = tarPack()
  // when `out` fails, pipeline destroys the pack but not the entry being written, whose
  // callbacks then never fire: every wait in writeMembers also ends when the pack closes
  const packClosed = new Promise<void>(resolve => pack.once('close', () => resolve()))
  const writing = writeMembers(pack, revision, source, packClosed).catch((err: unknown) => {
    pack.destroy(err as Error)
    throw err
  })
  const stages = options?.gzip === true ? [pack, createGzip(), out] : [pack, out]
  // both must settle; the member writer's error is the informative one
  const [written, piped] = await Promise.allSettled([
    writing,
    pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]),
  ])
  if (written.status === 'rejected' && !(written.reason instanceof PackClosedError)) {
    throw written.reason
  }
  if (piped.status === 'rejected') throw piped.reason
  if (written.status === 'rejected') throw written.reason
}

/** Internal: the pack went away under writeMembers; the pipeline's error says why. */
class PackClosedError extends Error {
  constructor() {
    super('pvr export: the output closed before the export was complete')
  }
}

function unlessClosed<T>(work: Promise<T>, packClosed: Promise<void>): Promise<T> {
  return Promise.race([
    work,
    packClosed.then(() => {
      throw new PackClosedError()
    }),
  ])
}

async function writeMembers(
  pack: Pack,
  revision: Revision,
  source: ObjectSource,
  packClosed: Promise<void>,
): Promise<void> {
  const common = {
    mode: EXPORT_MODE,
    mtime: EXPORT_MTIME,
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
  }
  await unlessClosed(
    new Promise<void>((resolve, reject) => {
      pack.entry({ ...common, name: STATE_MEMBER }, revision.bytes, err =>
        err ? reject(err) : resolve(),
      )
    }),
    packClosed,
  )

  for (const sha of revision.objectIds) {
    const size = await source.size(sha)
    let settle!: (err?: Error | null) => void
    const entryDone = new Promise<void>((resolve, reject) => {
      settle = err => (err ? reject(err) : resolve())
    })
    // awaited below on success; on failure the thrown error is the informative one
    entryDone.catch(() => {})
    const entry = pack.entry({ ...common, name: `${OBJECTS_PREFIX}${sha}`, size }, err =>
      settle(err),
    )
    // an entry's failure reaches us through the callback above; without a listener
    // streamx would also raise it as an uncaught 'error' event
    entry.on('error', () => {})

    let sentBytes = 0
    for await (const chunk of source.read(sha)) {
      sentBytes += chunk.byteLength
      if (sentBytes > size) break
      if (!entry.write(chunk)) await unlessClosed(drainedOrClosed(entry), packClosed)
    }
    if (sentBytes !== size) {
      const error = new ExportSourceError(sha, size, sentBytes)
      entry.destroy(error)
      throw error
    }
    entry.end(undefined)
    await unlessClosed(entryDone, packClosed)
  }
  pack.finalize()
}

type PackEntry = ReturnType<Pack['entry']>

function drainedOrClosed(entry: PackEntry): Promise<void> {
  return new Promise<void>(resolve => {
    const done = (): void => {
      entry.off('drain', done)
      entry.off('close', done)
      resolve()
    }
    entry.on('drain', done)
    entry.on('close', done)
  })
}
