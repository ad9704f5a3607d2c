import { createReadStream } from 'node:fs'
import { pipeline, Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { extract as tarExtract, type Extract, type Header } from 'tar-stream'
import { PvswarmError } from '../util/errors.js'
import { OBJECTS_PREFIX, STATE_MEMBER } from './constants.js'
import {
  PvrCorruptArchiveError,
  PvrDuplicateMemberError,
  PvrMemberNameError,
  PvrMemberTypeError,
  PvrMissingObjectsError,
  PvrStateMemberError,
  StateTooLargeError,
} from './errors.js'
import {
  importObject,
  maxStateBytesOf,
  warningCollector,
  type ImportedObject,
  type ImportOptions,
  type ImportResult,
} from './import-common.js'
import type { ObjectSink } from './objects.js'
import { parseRevision, type Revision } from './revision.js'

const OBJECT_MEMBER = /^objects\/([0-9a-f]{64})$/

const TYPE_NAMES: Readonly<Record<string, string>> = {
  link: 'hard link',
  symlink: 'symbolic link',
  'character-device': 'character device',
  'block-device': 'block device',
  directory: 'directory',
  fifo: 'fifo',
}

/**
 * Imports a pvr export (tar, gzip-compressed or not: detected from the magic
 * bytes) as a stream. The first member must be the regular file `json`;
 * every referenced object must follow as `objects/<sha256>` and is streamed
 * into the sink while hashed, never held whole. Unreferenced objects are
 * skipped with a warning; anything else unexpected is refused.
 *
 * @throws PvrExportError subclasses for a bad archive, InvalidStateError
 *   subclasses for a bad state, and whatever the sink throws
 */
export async function importPvrExport(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: ObjectSink,
  options?: ImportOptions,
): Promise<ImportResult> {
  const maxStateBytes = maxStateBytesOf(options)
  const { warnings, warn } = warningCollector(options)
  const { gzip, chunks } = await sniffGzip(input)
  const raw = Readable.from(chunks, { objectMode: false })
  const decoded: Readable = gzip ? pipeline(raw, createGunzip(), () => {}) : raw
  const extract = tarExtract()
  const feeding = feed(decoded, extract)

  let revision: Revision | undefined
  let referenced = new Set<string>()
  const seen = new Set<string>()
  const objects: ImportedObject[] = []
  try {
    for await (const entry of guardArchive(extract)) {
      const name = entry.header.name
      const kind = classifyMember(entry.header)
      // a second "json" is caught here too, so below `kind` is an object sha
      if (seen.has(name)) throw new PvrDuplicateMemberError(name)
      seen.add(name)
      const body = guardArchive(entry as AsyncIterable<Uint8Array>)

      if (revision === undefined) {
        if (kind !== STATE_MEMBER) throw new PvrStateMemberError(name)
        revision = parseRevision(await readState(body, entry.header.size, maxStateBytes))
        referenced = new Set(revision.objectIds)
      } else if (!referenced.has(kind)) {
        warn(`pvr export member ${name}: not referenced by the state, skipped`)
        for await (const _ of body) {
          // drained unread: it is not imported
        }
      } else {
        objects.push(
          await importObject(sink, kind, entry.header.size, body, `pvr export member ${name}`),
        )
      }
    }
    await feeding
  } catch (err) {
    extract.destroy()
    decoded.destroy()
    throw err
  }

  if (revision === undefined) throw new PvrStateMemberError(undefined)
  const imported = new Set(objects.map(object => object.sha256))
  const missing = revision.objectIds.filter(sha => !imported.has(sha))
  if (missing.length > 0) throw new PvrMissingObjectsError('pvr export', missing)
  return { revision, objects, warnings }
}

/** importPvrExport reading from a file (`.tgz`, `.tar.gz` or `.tar`). */
export async function importPvrExportFile(
  path: string,
  sink: ObjectSink,
  options?: ImportOptions,
): Promise<ImportResult> {
  const file = createReadStream(path)
  try {
    return await importPvrExport(file, sink, options)
  } finally {
    file.destroy()
  }
}

/** `json` for the state member, the sha for an object member; throws for anything else. */
function classifyMember(header: Header): string {
  const name = header.name
  const type = header.type as string | null
  if (type !== 'file' && type !== 'contiguous-file') {
    const described = type === null ? 'member of unknown type' : (TYPE_NAMES[type] ?? type)
    throw new PvrMemberTypeError(name, described)
  }
  if (name.startsWith('/')) throw new PvrMemberNameError(name, 'is absolute')
  if (name.split('/').includes('..')) throw new PvrMemberNameError(name, 'climbs out with ".."')
  if (name === STATE_MEMBER) return STATE_MEMBER
  const sha = OBJECT_MEMBER.exec(name)?.[1]
  if (sha === undefined) {
    const reason = name.startsWith(OBJECTS_PREFIX)
      ? 'is not followed by a lowercase 64-hex sha256'
      : 'is neither'
    throw new PvrMemberNameError(name, reason)
  }
  return sha
}

async function readState(
  body: AsyncIterable<Uint8Array>,
  sizeBytes: number,
  maxStateBytes: number,
): Promise<Uint8Array> {
  if (sizeBytes > maxStateBytes) {
    throw new StateTooLargeError('pvr export member json', maxStateBytes, sizeBytes)
  }
  const parts: Uint8Array[] = []
  for await (const chunk of body) parts.push(chunk)
  return Buffer.concat(parts)
}

/** Reads just enough of the input to see whether it starts with the gzip magic 1f 8b. */
async function sniffGzip(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<{ gzip: boolean; chunks: AsyncIterable<Uint8Array> }> {
  // yield* forwards return() to the input, so abandoning the import closes it
  const iterator = (async function* () {
    yield* input
  })()
  const head: Uint8Array[] = []
  let headBytes = 0
  let ended = false
  while (headBytes < 2) {
    const next = await iterator.next()
    if (next.done === true) {
      ended = true
      break
    }
    head.push(next.value)
    headBytes += next.value.byteLength
  }
  const start = Buffer.concat(head.slice(0, 2))
  const gzip = start[0] === 0x1f && start[1] === 0x8b
  const chunks = (async function* () {
    try {
      yield* head
      while (!ended) {
        const next = await iterator.next()
        if (next.done === true) return
        yield next.value
      }
    } finally {
      await iterator.return?.()
    }
  })()
  return { gzip, chunks }
}

/** Writes the decoded bytes into the tar parser with backpressure; a read error becomes a corrupt-archive error. */
async function feed(decoded: Readable, extract: Extract): Promise<void> {
  try {
    for await (const chunk of decoded) {
      if (extract.destroyed) return
      if (!extract.write(chunk as Uint8Array)) await drained(extract)
    }
    extract.end(undefined)
  } catch (err) {
    extract.destroy(asArchiveError(err))
  }
}

function drained(extract: Extract): Promise<void> {
  return new Promise<void>(resolve => {
    const done = (): void => {
      extract.off('drain', done)
      extract.off('close', done)
      resolve()
    }
    extract.on('drain', done)
    extract.on('close', done)
  })
}

/** Re-throws tar and gzip failures as PvrCorruptArchiveError; our own errors pass unchanged. */
async function* guardArchive<T>(source: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  try {
    yield* source
  } catch (err) {
    throw asArchiveError(err)
  }
}

function asArchiveError(err: unknown): Error {
  if (err instanceof PvswarmError) return err
  const message = err instanceof Error ? err.message : String(err)
  // zlib's and tar-stream's words for a file cut short: say it in the user's terms
  const cutShort = /unexpected end of (file|data)/i.test(message)
  const what = cutShort ? 'the file ends too soon: truncated?' : 'found unreadable data'
  return new PvrCorruptArchiveError(`${what} (${message})`, { cause: err })
}
