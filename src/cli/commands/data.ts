import type { Command } from 'commander'
import {
  DEFAULT_MAX_STATE_BYTES,
  exportPvr,
  importRevision,
  parseRevision,
  type Revision,
} from '../../revision/index.js'
import { parseRelease } from '../../release/index.js'
import { openStore, type Store } from '../../store/index.js'
import { isSha256Hex } from '../../util/hex.js'
import { aboutInput, CommandFailure } from '../errors.js'
import { requireDataDir, writeAtomically } from '../files.js'
import { formatBytes, printJson, printLines, warn } from '../output.js'

/** Commands that work on a device's data directory. */
export function registerDataCommands(program: Command): void {
  program
    .command('import <path>')
    .description('put a pvr export or checkout into a data directory (objects + state)')
    .requiredOption('--data <dir>', 'data directory (created if missing)')
    .option('--json', 'print the result as JSON')
    .action(async (path: string, options: { data: string; json?: boolean }) => {
      const store = await openStore({ dataDir: options.data })
      try {
        const imported = await aboutInput(path, () =>
          importRevision(path, store, { onWarning: warn }),
        )
        // the state is kept as an object too, so `export` can find it by revision id; it goes in
        // last, so a revision id in the store means all its objects are there
        const state = imported.revision
        const stateAdded = !(await store.has(state.sha256))
        await store.put(state.sha256, state.bytes.byteLength, [state.bytes])

        const added = imported.objects.filter(o => !o.alreadyPresent)
        const result = {
          revision: state.sha256,
          objects: imported.objects.length,
          added: added.length,
          addedBytes: added.reduce((sum, o) => sum + o.size, 0),
          stateBytes: state.bytes.byteLength,
          stateAdded,
        }
        if (options.json === true) printJson(result)
        else
          printLines(
            `imported revision ${result.revision}`,
            `${result.objects} objects, ${result.added} new (${formatBytes(result.addedBytes)})` +
              `, state ${stateAdded ? 'new' : 'already held'} (${formatBytes(result.stateBytes)})`,
          )
      } finally {
        await store.close()
      }
    })

  program
    .command('export <revision>')
    .description('write a revision held in a data directory as a pvr export')
    .requiredOption('--data <dir>', 'data directory')
    .requiredOption('--out <file>', 'output file; gzip-compressed when it ends .tgz or .tar.gz')
    .action(async (revisionId: string, options: { data: string; out: string }) => {
      if (!isSha256Hex(revisionId)) {
        throw new CommandFailure(`expected a revision id (64 lowercase hex), got "${revisionId}"`)
      }
      await requireDataDir(options.data)
      const store = await openStore({ dataDir: options.data })
      try {
        const revision = await readRevision(store, revisionId, options.data)
        await writeAtomically(options.out, out =>
          exportPvr(revision, store, out, { gzip: /\.(tgz|tar\.gz)$/.test(options.out) }),
        )
        printLines(`wrote ${options.out} (${revision.objectIds.length} objects)`)
      } finally {
        await store.close()
      }
    })

  program
    .command('fsck')
    .description('re-hash every object and partial chunk; quarantine what is bad')
    .requiredOption('--data <dir>', 'data directory')
    .option('--json', 'print the result as JSON')
    .action(async (options: { data: string; json?: boolean }) => {
      await requireDataDir(options.data)
      const store = await openStore({ dataDir: options.data })
      try {
        const report = await store.fsck()
        if (options.json === true) printJson(report)
        else
          printLines(
            `${report.objectsChecked} objects checked, ${report.objectsBad.length} bad`,
            `${report.chunksChecked} partial chunks checked, ${report.chunksBad.length} bad`,
            ...report.quarantined.map(sha => `quarantined ${sha}`),
          )
        const damaged = [
          ...report.objectsBad.map(sha => `object ${sha}`),
          ...report.chunksBad.map(c => `partial ${c.sha256} chunk ${c.index}`),
        ]
        if (damaged.length > 0) {
          throw new CommandFailure(
            `fsck found damaged data in ${options.data}: ${damaged.join(', ')} ` +
              '(objects quarantined, chunks dropped; they will be fetched again)',
          )
        }
      } finally {
        await store.close()
      }
    })
}

/**
 * The state stored under `revisionId` by `import`, or carried by a release the device accepted
 * (from a peer or a seed), parsed; every object it names must be in the store.
 */
async function readRevision(store: Store, revisionId: string, dataDir: string): Promise<Revision> {
  const revision = (await store.has(revisionId))
    ? await readStoredState(store, revisionId, dataDir)
    : await stateOfAcceptedRelease(store, revisionId)
  if (revision === undefined) {
    throw new CommandFailure(`revision ${revisionId} is not in ${dataDir}`)
  }
  const missing: string[] = []
  for (const sha256 of revision.objectIds) if (!(await store.has(sha256))) missing.push(sha256)
  if (missing.length > 0) {
    throw new CommandFailure(
      `${missing.length} of the ${revision.objectIds.length} objects of revision ${revisionId} ` +
        `are not in ${dataDir} (first ${missing[0]}): a download under way, copies dropped ` +
        'after the install (Pantavisor holds them), or a release superseded by a newer one',
    )
  }
  return revision
}

async function stateOfAcceptedRelease(
  store: Store,
  revisionId: string,
): Promise<Revision | undefined> {
  for (const id of await store.listReleaseIds()) {
    const bytes = await store.getRelease(id)
    if (bytes === undefined) continue
    const release = parseRelease(bytes)
    if (release.revision.sha256 === revisionId) return parseRevision(release.revision.state)
  }
  return undefined
}

async function readStoredState(
  store: Store,
  revisionId: string,
  dataDir: string,
): Promise<Revision> {
  // an object id that names a kernel image must not be read into memory to find that out
  const size = await store.size(revisionId)
  if (size > DEFAULT_MAX_STATE_BYTES || !(await startsLikeJsonObject(store, revisionId, size))) {
    throw new CommandFailure(
      `${revisionId} in ${dataDir} is an object of ${size} bytes, not a revision state`,
    )
  }
  const pieces: Uint8Array[] = []
  for await (const piece of store.read(revisionId)) pieces.push(piece)
  try {
    return parseRevision(Buffer.concat(pieces))
  } catch (err) {
    throw new CommandFailure(
      `${revisionId} in ${dataDir} is not a revision state (${(err as Error).message})`,
    )
  }
}

/** Stored states are canonical JSON objects, so their first byte is `{`. */
async function startsLikeJsonObject(store: Store, sha256: string, size: number): Promise<boolean> {
  if (size === 0) return false
  for await (const piece of store.read(sha256, { start: 0, end: 1 })) return piece[0] === 0x7b
  return false
}
