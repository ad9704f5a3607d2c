import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { encodeRelease, parseRelease, releaseId, type Release } from '../release/index.js'
import { writeFileAtomically } from '../util/atomic-file.js'
import { makeDirectory } from '../util/make-directory.js'

/**
 * Seeds reach a device through `<data>/incoming/`: `pvswarm seed` drops a
 * request there (the release and the path of its revision) and the daemon —
 * the only process that owns the store while it runs — picks it up, judges
 * it, imports the objects and answers with a result file beside it.
 */
export const INCOMING_DIR = 'incoming'

export interface SeedRequest {
  release: Release
  /** absolute path of the pvr export or checkout the release was made from */
  revisionPath: string
}

export interface SeedResult {
  ok: boolean
  releaseId: string
  message: string
}

export function incomingDir(dataDir: string): string {
  return join(dataDir, INCOMING_DIR)
}

/** Drops a seed request; returns the release id the result file will be named after. */
export async function dropSeedRequest(
  dataDir: string,
  release: Release,
  revisionPath: string,
): Promise<string> {
  const dir = incomingDir(dataDir)
  await makeDirectory(dir)
  const id = releaseId(release)
  await rm(resultPath(dataDir, id), { force: true })
  const request = {
    release: JSON.parse(new TextDecoder().decode(encodeRelease(release))) as unknown,
    revisionPath: resolve(revisionPath),
  }
  await writeFileAtomically(join(dir, `${id}.request.json`), JSON.stringify(request))
  return id
}

export function resultPath(dataDir: string, id: string): string {
  return join(incomingDir(dataDir), `${id}.result.json`)
}

export async function readSeedResult(dataDir: string, id: string): Promise<SeedResult | undefined> {
  try {
    return JSON.parse(await readFile(resultPath(dataDir, id), 'utf8')) as SeedResult
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * Watches the incoming directory of a running daemon and hands each request to
 * `handle`, one at a time; requests present at start are handled too.
 */
export class IncomingSeeds extends EventEmitter<{ result: [SeedResult] }> {
  readonly #dir: string
  readonly #dataDir: string
  readonly #handle: (request: SeedRequest) => Promise<string>
  readonly #log: Logger
  #watcher: FSWatcher | undefined
  #queue: Promise<void> = Promise.resolve()
  #rescan = false
  #scanning = false

  constructor(dataDir: string, handle: (request: SeedRequest) => Promise<string>, log: Logger) {
    super()
    this.#dataDir = dataDir
    this.#dir = incomingDir(dataDir)
    this.#handle = handle
    this.#log = log
  }

  async start(): Promise<void> {
    await makeDirectory(this.#dir)
    this.#watcher = watch(this.#dir, () => this.#scan())
    this.#watcher.on('error', err => this.#log.warn({ err: err.message }, 'incoming watch failed'))
    this.#scan()
    await this.#queue
  }

  async stop(): Promise<void> {
    this.#watcher?.close()
    this.#watcher = undefined
    await this.#queue
  }

  /** Handles every request file present; a change during a scan triggers one more scan. */
  #scan(): void {
    if (this.#scanning) {
      this.#rescan = true
      return
    }
    this.#scanning = true
    this.#queue = this.#queue.then(async () => {
      try {
        do {
          this.#rescan = false
          for (const name of await readdir(this.#dir)) {
            if (name.endsWith('.request.json')) await this.#process(join(this.#dir, name))
          }
        } while (this.#rescan && this.#watcher !== undefined)
      } catch (err) {
        this.#log.warn(
          { dir: this.#dir, err: (err as Error).message },
          'incoming seeds not readable',
        )
      } finally {
        this.#scanning = false
      }
    })
  }

  async #process(path: string): Promise<void> {
    let id = 'unknown'
    let result: SeedResult
    try {
      const request = JSON.parse(await readFile(path, 'utf8')) as {
        release: unknown
        revisionPath: unknown
      }
      const release = parseRelease(new TextEncoder().encode(JSON.stringify(request.release)))
      id = releaseId(release)
      if (typeof request.revisionPath !== 'string')
        throw new Error('seed request without revisionPath')
      await this.#handle({ release, revisionPath: request.revisionPath })
      result = { ok: true, releaseId: id, message: 'seeded and announced' }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && id === 'unknown') return
      result = { ok: false, releaseId: id, message: (err as Error).message }
      this.#log.warn({ releaseId: id, reason: result.message }, 'seed refused')
    }
    if (id !== 'unknown')
      await writeFileAtomically(resultPath(this.#dataDir, id), JSON.stringify(result))
    await rm(path, { force: true })
    this.emit('result', result)
  }
}
