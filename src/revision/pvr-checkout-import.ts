import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { STATE_MEMBER } from './constants.js'
import { PvrCheckoutError, PvrMissingObjectsError, StateTooLargeError } from './errors.js'
import {
  importObject,
  maxStateBytesOf,
  warningCollector,
  type ImportedObject,
  type ImportOptions,
  type ImportResult,
} from './import-common.js'
import type { ObjectSink } from './objects.js'
import { parseRevision } from './revision.js'

const DEFAULT_OBJECTS_DIR = join('.pvr', 'objects')

/**
 * Imports the committed revision of a pvr checkout: the state in
 * `.pvr/json`, the objects from `.pvr/config`'s `ObjectsDir` (relative to
 * the checkout; `.pvr/objects` when unset). Working-tree files are not
 * looked at: they may hold uncommitted edits. Every object is checked to
 * exist before any is imported, then each is streamed into the sink while
 * hashed.
 *
 * @throws PvrCheckoutError for a missing `.pvr/json` or unreadable config,
 *   PvrMissingObjectsError listing absent objects, InvalidStateError
 *   subclasses for a bad state, and whatever the sink throws
 */
export async function importPvrCheckout(
  dir: string,
  sink: ObjectSink,
  options?: ImportOptions,
): Promise<ImportResult> {
  const { warnings } = warningCollector(options)
  const statePath = join(dir, '.pvr', STATE_MEMBER)
  const revision = parseRevision(await readStateFile(dir, statePath, maxStateBytesOf(options)))
  const objectsDir = resolve(dir, await objectsDirOf(dir))

  const sizes = new Map<string, number>()
  const missing: string[] = []
  for (const sha of revision.objectIds) {
    const info = await stat(join(objectsDir, sha)).catch(() => undefined)
    if (info?.isFile() === true) sizes.set(sha, info.size)
    else missing.push(sha)
  }
  if (missing.length > 0)
    throw new PvrMissingObjectsError(`pvr checkout ${dir} (objects in ${objectsDir})`, missing)

  const objects: ImportedObject[] = []
  for (const [sha, size] of sizes) {
    const path = join(objectsDir, sha)
    const file = createReadStream(path)
    try {
      objects.push(await importObject(sink, sha, size, file, `pvr checkout file ${path}`))
    } finally {
      file.destroy()
    }
  }
  return { revision, objects, warnings }
}

async function readStateFile(
  dir: string,
  path: string,
  maxStateBytes: number,
): Promise<Uint8Array> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined || !info.isFile()) {
    throw new PvrCheckoutError(dir, `expected the state in ${path}, found no such file`)
  }
  if (info.size > maxStateBytes) throw new StateTooLargeError(path, maxStateBytes, info.size)
  return readFile(path)
}

/** `ObjectsDir` from `.pvr/config`; the default when the file or the field is absent. */
async function objectsDirOf(dir: string): Promise<string> {
  const path = join(dir, '.pvr', 'config')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_OBJECTS_DIR
    throw new PvrCheckoutError(dir, `cannot read ${path}: ${(err as Error).message}`)
  }
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (err) {
    throw new PvrCheckoutError(dir, `${path}: expected JSON, found ${(err as Error).message}`)
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new PvrCheckoutError(dir, `${path}: expected a JSON object`)
  }
  const objectsDir = (config as Record<string, unknown>)['ObjectsDir']
  if (objectsDir === undefined || objectsDir === '') return DEFAULT_OBJECTS_DIR
  if (typeof objectsDir !== 'string') {
    throw new PvrCheckoutError(
      dir,
      `${path}: ObjectsDir: expected a path string, found ${typeof objectsDir}`,
    )
  }
  return objectsDir
}
