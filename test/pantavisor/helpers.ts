import { createReadStream, mkdtempSync, rmSync } from 'node:fs'
import { once } from 'node:events'
import { createServer, type RequestListener, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import type { PvCtrlClock } from '../../src/pantavisor/index.js'

/**
 * Streams the object `sha256` out of a pvr export straight into `use`,
 * without holding it in memory: tar-stream hands each member over as a stream
 * that must be consumed before the next one is read.
 */
export async function withExportObject<T>(
  exportPath: string,
  sha256: string,
  use: (size: number, bytes: AsyncIterable<Uint8Array>) => Promise<T>,
): Promise<T> {
  const extract = tar.extract()
  createReadStream(exportPath).pipe(createGunzip()).pipe(extract)
  for await (const entry of extract) {
    if (entry.header.name !== `objects/${sha256}`) {
      entry.resume()
      continue
    }
    const result = await use(entry.header.size ?? 0, chunksOf(entry))
    extract.destroy()
    return result
  }
  throw new Error(`${exportPath} has no member objects/${sha256}`)
}

async function* chunksOf(stream: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) yield chunk as Uint8Array
}

/** A plain HTTP server on a unix socket in a fresh folder, closed after the test. */
export async function rawServer(
  t: TestContext,
  handler: RequestListener,
): Promise<{ socketPath: string; server: Server }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvctrl-raw-'))
  const socketPath = join(dir, 'pv-ctrl')
  const server = createServer(handler)
  server.listen(socketPath)
  await once(server, 'listening')
  t.after(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })
  return { socketPath, server }
}

/**
 * A clock on which sleeping costs nothing: each sleep is recorded, advances
 * `now`, and runs `during` (which may change the world the next try sees).
 */
export function virtualClock(during: (ms: number) => Promise<void> | void = () => undefined): {
  clock: PvCtrlClock
  sleeps: number[]
} {
  let nowMs = 0
  const sleeps: number[] = []
  const clock: PvCtrlClock = {
    now: () => nowMs,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted()
      sleeps.push(ms)
      nowMs += ms
      await during(ms)
      signal?.throwIfAborted()
    },
  }
  return { clock, sleeps }
}
