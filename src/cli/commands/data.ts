import { createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import type { Command } from 'commander'
import { exportPvr, importRevision, parseRevision } from '../../revision/index.js'
import { openStore } from '../../store/index.js'
import { isSha256Hex } from '../../util/hex.js'
import { CommandFailure, formatBytes, printJson, printLines, warn } from '../output.js'

/** Commands that work on a device's data directory. */
export function registerDataCommands(program: Command): void {
  program
    .command('import <path>')
    .description('put a pvr export or checkout into a data directory (objects + state)')
    .requiredOption('--data <dir>', 'data directory')
    .option('--json', 'print the result as JSON')
    .action(async (path: string, options: { data: string; json?: boolean }) => {
      const store = await openStore({ dataDir: options.data })
      try {
        const imported = await importRevision(path, store, { onWarning: warn })
        // the state itself is kept as an object too, so `export` can find it by revision id
        await store.put(imported.revision.sha256, imported.revision.bytes.byteLength, [
          imported.revision.bytes,
        ])
        const added = imported.objects.filter(o => !o.alreadyPresent)
        const result = {
          revision: imported.revision.sha256,
          objects: imported.objects.length,
          added: added.length,
          addedBytes: added.reduce((sum, o) => sum + o.size, 0),
        }
        if (options.json === true) printJson(result)
        else
          printLines(
            `imported revision ${result.revision}`,
            `${result.objects} objects, ${result.added} new (${formatBytes(result.addedBytes)})`,
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
      const store = await openStore({ dataDir: options.data })
      try {
        if (!(await store.has(revisionId))) {
          throw new CommandFailure(`revision ${revisionId} is not in ${options.data}`)
        }
        const stateChunks: Uint8Array[] = []
        for await (const piece of store.read(revisionId)) stateChunks.push(piece)
        const revision = parseRevision(Buffer.concat(stateChunks))
        const out = createWriteStream(options.out)
        await exportPvr(revision, store, out, { gzip: /\.(tgz|tar\.gz)$/.test(options.out) })
        out.end()
        await finished(out)
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
        if (report.objectsBad.length > 0 || report.chunksBad.length > 0) {
          throw new CommandFailure(
            'fsck found damaged data (quarantined or dropped; it will be fetched again)',
          )
        }
      } finally {
        await store.close()
      }
    })
}
