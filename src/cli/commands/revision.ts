import { readFile, stat } from 'node:fs/promises'
import type { Command } from 'commander'
import {
  checkSignatures,
  discardingSink,
  importRevision,
  parseRevision,
  type Revision,
  type SignatureReport,
} from '../../revision/index.js'
import { CommandFailure, formatBytes, printJson, printLines, warn } from '../output.js'

export function registerRevision(program: Command): void {
  const revision = program.command('revision').description('inspect Pantavisor revisions')

  revision
    .command('check <path>')
    .description(
      'validate a pvr export, pvr checkout or state JSON and report its pvs@2 signatures',
    )
    .option('--json', 'print the result as JSON')
    .action(async (path: string, options: { json?: boolean }) => {
      const warnings: string[] = []
      let parsed: Revision
      let objectBytes: number | null = null
      if (path.endsWith('.json') && (await stat(path)).isFile()) {
        parsed = parseRevision(await readFile(path))
      } else {
        const imported = await importRevision(path, discardingSink(), {
          onWarning: message => warnings.push(message),
        })
        parsed = imported.revision
        objectBytes = imported.objects.reduce((sum, o) => sum + o.size, 0)
      }

      const signatures = checkSignatures(parsed)
      const bad = signatures.filter(s => !s.valid)
      if (options.json === true) {
        printJson({
          revision: parsed.sha256,
          canonicalised: parsed.canonicalised,
          objects: parsed.objectIds.length,
          objectBytes,
          warnings,
          signatures,
        })
      } else {
        for (const message of warnings) warn(message)
        printLines(
          `revision ${parsed.sha256}${parsed.canonicalised ? ' (canonicalised: input was not canonical JSON)' : ''}`,
          `objects  ${parsed.objectIds.length}${objectBytes === null ? '' : ` (${formatBytes(objectBytes)}, every byte verified)`}`,
          ...signatureLines(signatures),
        )
      }
      if (bad.length > 0) {
        throw new CommandFailure(
          `${bad.length} pvs@2 signature(s) do not verify: ${bad.map(s => s.key).join(', ')}`,
        )
      }
    })
}

function signatureLines(signatures: SignatureReport[]): string[] {
  if (signatures.length === 0) return ['pvs@2    no signatures']
  return signatures.map(
    s =>
      `pvs@2    ${s.key}: ${s.valid ? 'valid' : `INVALID (${s.reason ?? 'does not verify'})`}, ` +
      `${s.algorithm}, covers ${s.covers.length} key(s)${s.subject === undefined ? '' : `, signer ${s.subject}`}`,
  )
}
