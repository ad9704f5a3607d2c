import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import * as fs from 'node:fs'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'

// The emulator keeps Pantavisor's own /storage layout so that what survives a
// "reboot" (or a new emulator on the same folder) is exactly what is on disk:
//   objects/<sha>                 every object
//   trails/<rev>/.pvr/json        a revision's state as received
//   trails/<rev>/.pv/progress     its progress document
//   trails/<rev>/.pv/commitmsg    its commit message
//   trails/<rev>/<key>            hard links to objects, made when the revision runs
//   device.json                   what the bootloader would remember (emulator bookkeeping)

export const FACTORY_REVISION = '0'
export const FACTORY_STATE = '{"#spec":"pantavisor-service-system@1"}'

/** Progress as Pantavisor writes it to `.pv/progress`. */
export interface ProgressDocument {
  status: string
  'status-msg': string
  progress: number
  retries: number
  logs?: string
}

/** What persists across reboots besides the trails. */
export interface DeviceRecord {
  /** the running revision (`pantavisor.revision`) */
  revision: string
  /** the last revision committed DONE: the rollback point */
  done: string
  /** a trial under way: concluded at the next start */
  trying?: { rev: string; reboot: boolean }
}

// Pantavisor's coarse percentage per status (update_progress.c).
const PERCENT: Record<string, number> = {
  NEW: 0,
  QUEUED: 5,
  DOWNLOADING: 25,
  INPROGRESS: 50,
  TESTING: 75,
  UPDATED: 100,
  DONE: 100,
  WONTGO: 100,
  ERROR: 100,
}

export function progressDocument(status: string, message: string): ProgressDocument {
  return { status, 'status-msg': message, progress: PERCENT[status] ?? 0, retries: 0 }
}

export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

/** True for a path relative to a trail that cannot climb out of it. */
export function isSafeRelativePath(key: string): boolean {
  if (key.length === 0 || key.startsWith('/') || key.includes('\\') || key.includes('\0')) {
    return false
  }
  return key.split('/').every(part => part !== '' && part !== '.' && part !== '..')
}

export class EmulatorStorage {
  readonly objectsDir: string
  readonly trailsDir: string
  private readonly devicePath: string
  private record: DeviceRecord

  constructor(readonly dir: string) {
    this.objectsDir = join(dir, 'objects')
    this.trailsDir = join(dir, 'trails')
    this.devicePath = join(dir, 'device.json')
    fs.mkdirSync(this.objectsDir, { recursive: true })
    fs.mkdirSync(join(this.trailsDir, 'locals'), { recursive: true })

    if (fs.existsSync(this.devicePath)) {
      this.record = JSON.parse(fs.readFileSync(this.devicePath, 'utf8')) as DeviceRecord
    } else {
      // a fresh device runs its factory revision
      this.record = { revision: FACTORY_REVISION, done: FACTORY_REVISION }
      this.writeState(FACTORY_REVISION, Buffer.from(FACTORY_STATE))
      this.writeProgress(FACTORY_REVISION, progressDocument('DONE', 'Factory revision'))
      this.saveDevice()
    }
  }

  get device(): Readonly<DeviceRecord> {
    return this.record
  }

  updateDevice(change: Partial<DeviceRecord>): void {
    this.record = { ...this.record, ...change }
    if (this.record.trying === undefined) delete this.record.trying
    this.saveDevice()
  }

  private saveDevice(): void {
    const temp = `${this.devicePath}.tmp`
    fs.writeFileSync(temp, JSON.stringify(this.record))
    fs.renameSync(temp, this.devicePath)
  }

  objectPath(sha: string): string {
    return join(this.objectsDir, sha)
  }

  hasObject(sha: string): boolean {
    return fs.existsSync(this.objectPath(sha))
  }

  /** Objects as `GET /objects` lists them: only 64-character names. */
  listObjects(): Array<{ sha256: string; size: number }> {
    return fs
      .readdirSync(this.objectsDir)
      .filter(name => name.length === 64)
      .sort()
      .flatMap(name => {
        try {
          return [{ sha256: name, size: fs.statSync(this.objectPath(name)).size }]
        } catch {
          return []
        }
      })
  }

  /** Bytes the objects take, not counting `except` (a file about to be rewritten). */
  objectBytes(except?: string): number {
    let total = 0
    for (const name of fs.readdirSync(this.objectsDir)) {
      if (name === except) continue
      try {
        total += fs.statSync(this.objectPath(name)).size
      } catch {
        // deleted meanwhile
      }
    }
    return total
  }

  trailPath(rev: string): string {
    return join(this.trailsDir, rev)
  }

  statePath(rev: string): string {
    return join(this.trailsDir, rev, '.pvr', 'json')
  }

  progressPath(rev: string): string {
    return join(this.trailsDir, rev, '.pv', 'progress')
  }

  commitMessagePath(rev: string): string {
    return join(this.trailsDir, rev, '.pv', 'commitmsg')
  }

  readState(rev: string): Buffer | undefined {
    return readIfPresent(this.statePath(rev))
  }

  writeState(rev: string, bytes: Uint8Array): void {
    fs.mkdirSync(dirname(this.statePath(rev)), { recursive: true })
    fs.writeFileSync(this.statePath(rev), bytes)
  }

  readProgress(rev: string): ProgressDocument | undefined {
    const bytes = readIfPresent(this.progressPath(rev))
    if (bytes === undefined) return undefined
    try {
      return JSON.parse(bytes.toString('utf8')) as ProgressDocument
    } catch {
      return undefined
    }
  }

  readProgressText(rev: string): string | undefined {
    return readIfPresent(this.progressPath(rev))?.toString('utf8')
  }

  writeProgress(rev: string, document: ProgressDocument): void {
    fs.mkdirSync(dirname(this.progressPath(rev)), { recursive: true })
    fs.writeFileSync(this.progressPath(rev), JSON.stringify(document))
  }

  removeStep(rev: string): void {
    fs.rmSync(this.trailPath(rev), { recursive: true, force: true })
  }

  /** Revision names with a trail, in the order `GET /steps` gives them. */
  listRevisions(): string[] {
    const dirs = (path: string): string[] =>
      fs
        .readdirSync(path, { withFileTypes: true })
        .filter(entry => entry.isDirectory())
        .map(entry => entry.name)
        .sort()
    const remote = dirs(this.trailsDir).filter(name => name !== 'locals' && name !== 'current')
    const locals = dirs(join(this.trailsDir, 'locals')).map(name => `locals/${name}`)
    return [...remote, ...locals]
  }

  /** mtime of the trail, formatted as pv-ctrl does. */
  stepDate(rev: string): string {
    const when = fs.statSync(this.trailPath(rev)).mtime
    return `${when.toISOString().slice(0, 19)}Z`
  }

  readCommitMessage(rev: string): string {
    return readIfPresent(this.commitMessagePath(rev))?.toString('utf8') ?? ''
  }

  /**
   * Hard-links each object into the trail under its key, as Pantavisor does
   * when a revision is run. Returns the ids that were not in storage.
   */
  linkObjects(rev: string, objects: ReadonlyMap<string, string>): string[] {
    const missing: string[] = []
    for (const [key, sha] of objects) {
      const target = join(this.trailPath(rev), key)
      if (!this.hasObject(sha)) {
        missing.push(sha)
        continue
      }
      fs.mkdirSync(dirname(target), { recursive: true })
      try {
        fs.linkSync(this.objectPath(sha), target)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
    }
    return missing
  }

  /**
   * Pantavisor's GC: drop every trail but `keep`, then every object whose
   * only link is its own name, except `protect` (an update under way).
   * Returns the bytes freed.
   */
  collectGarbage(keep: ReadonlySet<string>, protect: ReadonlySet<string>): number {
    for (const rev of this.listRevisions()) {
      if (!keep.has(rev)) this.removeStep(rev)
    }
    let reclaimed = 0
    for (const name of fs.readdirSync(this.objectsDir)) {
      const path = this.objectPath(name)
      let info: fs.Stats
      try {
        info = fs.statSync(path)
      } catch {
        continue
      }
      if (info.nlink > 1 || protect.has(name)) continue
      reclaimed += info.size
      fs.rmSync(path, { force: true })
    }
    return reclaimed
  }
}

function readIfPresent(path: string): Buffer | undefined {
  try {
    return fs.readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') return undefined
    throw err
  }
}
