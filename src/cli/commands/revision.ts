import { open, stat } from 'node:fs/promises'
import type { Command } from 'commander'
import {
  checkSignatures,
  DEFAULT_MAX_STATE_BYTES,
  discardingSink,
  importRevision,
  parseRevision,
  StateTooLargeError,
  type Revision,
  type SignatureReport,
} from '../../revision/index.js'
import { aboutInput, CommandFailure } from '../errors.js'
import { formatBytes, printJson, printLines, warn } from '../output.js'

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
      const { parsed, objectBytes } = await aboutInput(path, async () => {
        if (await isStateFile(path)) {
          return { parsed: parseRevision(await readStateFile(path)), objectBytes: null }
        }
        const imported = await importRevision(path, discardingSink(), {
          onWarning: message => warnings.push(message),
        })
        return {
          parsed: imported.revision,
          objectBytes: imported.objects.reduce((sum, o) => sum + o.size, 0),
        }
      })

      const signatures = checkSignatures(parsed)
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
        printLines(...summaryLines(parsed, objectBytes), ...signatureLines(signatures))
      }

      const bad = signatures.filter(s => !s.valid)
      if (bad.length > 0) {
        const reasons = bad.map(s => `${s.key}: ${s.reason ?? 'does not verify'}`)
        throw new CommandFailure(
          `${path}: ${bad.length} pvs@2 signature(s) do not verify: ${reasons.join('; ')}`,
        )
      }
    })
}

/** A regular file starting with `{` is a state; anything else is left to the pvr importers. */
async function isStateFile(path: string): Promise<boolean> {
  const info = await stat(path)
  if (!info.isFile()) return false
  const handle = await open(path, 'r')
  try {
    const head = Buffer.alloc(64)
    const { bytesRead } = await handle.read(head, 0, head.byteLength, 0)
    return /^\s*\{/.test(head.subarray(0, bytesRead).toString('latin1'))
  } finally {
    await handle.close()
  }
}

async function readStateFile(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const { size } = await handle.stat()
    if (size > DEFAULT_MAX_STATE_BYTES) {
      throw new StateTooLargeError(path, DEFAULT_MAX_STATE_BYTES, size)
    }
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

function summaryLines(parsed: Revision, objectBytes: number | null): string[] {
  const canonical = parsed.canonicalised ? ' (canonicalised: input was not canonical JSON)' : ''
  const bytes = objectBytes === null ? '' : ` (${formatBytes(objectBytes)}, every byte verified)`
  return [`revision ${parsed.sha256}${canonical}`, `objects  ${parsed.objectIds.length}${bytes}`]
}

function signatureLines(signatures: SignatureReport[]): string[] {
  if (signatures.length === 0) return ['pvs@2    no signatures']
  return signatures.map(
    s =>
      `pvs@2    ${s.key}: ${s.valid ? 'valid' : `INVALID (${s.reason ?? 'does not verify'})`}, ` +
      `${s.algorithm}, covers ${s.covers.length} key(s)${s.subject === undefined ? '' : `, signer ${s.subject}`}`,
  )
}
