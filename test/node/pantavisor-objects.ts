import type { TestContext } from 'node:test'
import type { ReleaseContent } from '../../src/exchange/index.js'
import { installedLookup, type InstalledObjectLookup } from '../../src/node/layered-store.js'
import {
  PvCtrlClient,
  PvObjectChunks,
  type PvObjectChunksOptions,
} from '../../src/pantavisor/index.js'
import { contentOf, MiB, revisionObjects } from '../exchange/helpers.js'
import {
  startPvCtrlEmulator,
  type PvCtrlEmulator,
  type RequestEvent,
} from '../sim/pvctrl-emulator.js'

export { MiB }

// rev1 and rev2 share 7 of their 9 objects (fixtures/revisions/MANIFEST.md);
// these two are rev1's own
export const REV1_SITE_CONF = '546e16df191335f404eebf4e509e3b8dd25018f3114aaf87d0b7a4c6771279af'
export const REV1_SENSOR_ROOT = '8eb0697ed1bd6aa4ce255ce9f735f15ffb479dc32a8750071e5bc5c6ed989f9e'
export const KERNEL = 'b9ea6660d2abac0b2d65aaf11d07cb9d9012b4beb1287d6eb539fccecd1aebd2'

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

export interface RevisionFixture {
  objects: Map<string, Buffer>
  content: ReleaseContent
}

let cached: Promise<{ rev1: RevisionFixture; rev2: RevisionFixture }> | undefined

/** rev1 and rev2 objects and their release content at 1 MiB chunks, read once per process. */
export function revisions(): Promise<{ rev1: RevisionFixture; rev2: RevisionFixture }> {
  cached ??= (async () => {
    const [one, two] = await Promise.all([revisionObjects('rev1'), revisionObjects('rev2')])
    return {
      rev1: { objects: one, content: contentOf(one, MiB) },
      rev2: { objects: two, content: contentOf(two, MiB) },
    }
  })()
  return cached
}

/** An emulated Pantavisor holding `objects`, with a client and a chunk reader on it. */
export async function pantavisorHolding(
  t: TestContext,
  objects: Map<string, Uint8Array>,
  options: PvObjectChunksOptions = {},
): Promise<{
  emulator: PvCtrlEmulator
  client: PvCtrlClient
  chunks: PvObjectChunks
  requests: RequestEvent[]
}> {
  const emulator = await startPvCtrlEmulator()
  const client = new PvCtrlClient({ socketPath: emulator.socketPath })
  for (const [sha256, bytes] of objects)
    await client.putObject(sha256, bytes.byteLength, once(bytes))
  const chunks = new PvObjectChunks(client, options)
  const requests: RequestEvent[] = []
  emulator.on('request', (event: RequestEvent) => requests.push(event))
  t.after(async () => {
    chunks.close()
    await emulator.close()
  })
  return { emulator, client, chunks, requests }
}

/** A lookup that calls exactly these releases installed. */
export function installed(...contents: ReleaseContent[]): InstalledObjectLookup {
  return installedLookup(() => contents)
}
