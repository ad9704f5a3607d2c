import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import ms from 'ms'
import { decideRelease } from '../../policy/index.js'
import {
  checkReleaseRevision,
  checkSignatures,
  createRelease,
  describingSink,
  encodeRelease,
  parseRelease,
  readKeyFile,
  releaseId,
  signRelease,
  DEFAULT_CHUNK_BYTES,
  MAX_CHUNK_BYTES,
  MIN_CHUNK_BYTES,
  type Release,
} from '../../release/index.js'
import { importRevision } from '../../revision/index.js'
import { writeFileAtomically } from '../../util/atomic-file.js'
import { aboutInput, CommandFailure } from '../errors.js'
import { requireOutputDir } from '../files.js'
import { formatBytes, printJson, printLines, warn } from '../output.js'
import { collect, parsePositiveInteger, parsePublicKey } from '../parse.js'

export function registerRelease(program: Command): void {
  const release = program
    .command('release')
    .description('create, inspect and verify signed releases')

  release
    .command('create')
    .description('sign a release: fleet F should run this revision as sequence N')
    .requiredOption('--revision <path>', 'pvr export (.tgz/.tar) or pvr checkout directory')
    .requiredOption('--fleet <name>', 'fleet the release is for')
    .requiredOption(
      '--sequence <n>',
      'sequence number, higher than every earlier release of the fleet',
      parsePositiveInteger,
    )
    .requiredOption(
      '--key <file>',
      'private key file (from `pvswarm keygen`); repeat to co-sign',
      collect,
    )
    .option('--expires <duration>', 'expiry, as a duration from now (30d, 12h) or an RFC 3339 time')
    .option('--chunk-bytes <n>', 'chunk size', parsePositiveInteger, DEFAULT_CHUNK_BYTES)
    .requiredOption('--out <file>', 'where to write the release (JSON)')
    .option('--json', 'print the result as JSON')
    .action(async options => {
      // everything cheap is checked before the revision's objects are hashed
      const keys = await Promise.all((options.key as string[]).map(file => readKeyFile(file)))
      await requireOutputDir(options.out)
      const issuedAt = new Date()
      const expiresAt =
        options.expires === undefined ? undefined : parseExpiry(options.expires, issuedAt)
      const chunkBytes = options.chunkBytes as number
      if (chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) {
        throw new CommandFailure(
          `--chunk-bytes ${chunkBytes}: expected ${MIN_CHUNK_BYTES} to ${MAX_CHUNK_BYTES}`,
        )
      }

      const sink = describingSink(chunkBytes)
      const imported = await aboutInput(options.revision, () =>
        importRevision(options.revision, sink, { onWarning: warn }),
      )
      if (imported.revision.canonicalised) {
        warn('the revision state was not canonical JSON; the release carries its canonical form')
      }

      const body = createRelease({
        revision: imported.revision,
        objects: [...sink.described.values()],
        fleet: options.fleet,
        sequence: options.sequence,
        issuedAt,
        expiresAt,
        chunkBytes,
      })
      let signed: Release | undefined
      for (const key of keys) signed = signRelease(signed ?? body, key)
      // unreachable while --key is a required option; kept so a refactor cannot ship unsigned
      if (signed === undefined) throw new CommandFailure('give at least one --key')

      await writeFileAtomically(options.out, encodeRelease(signed))
      const summary = describe(signed)
      if (options.json === true) printJson({ file: options.out, ...summary })
      else printLines(`wrote ${options.out}`, ...humanSummary(summary))
    })

  release
    .command('show <file>')
    .description('print what a release says (without judging it)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      const summary = await aboutInput(file, async () =>
        describe(parseRelease(await readFile(file))),
      )
      if (options.json === true) printJson(summary)
      else printLines(...humanSummary(summary))
    })

  release
    .command('verify <file>')
    .description('check a release as a device would: signatures, revision, fleet, expiry')
    .requiredOption(
      '--trust <pubkey>',
      'trusted public key (ed25519:…, as printed by keygen); repeatable',
      (value: string, previous: string[] | undefined) => collect(parsePublicKey(value), previous),
    )
    .option('--threshold <k>', 'distinct trusted signatures required', parsePositiveInteger, 1)
    .option('--fleet <name>', "the fleet of the device (default: the release's own)")
    .option('--json', 'print the result as JSON')
    .action(async (file: string, options) => {
      const parsed = await aboutInput(file, async () => parseRelease(await readFile(file)))
      const id = releaseId(parsed)
      const decision = decideRelease({
        release: parsed,
        releaseId: id,
        fleet: options.fleet ?? parsed.fleet,
        trustedKeys: options.trust,
        threshold: options.threshold,
        history: {},
        clock: { nowMs: Date.now() },
      })
      if (options.json === true) {
        const signatures = checkSignatures(parsed, options.trust)
        printJson({ file, releaseId: id, decision, signatures })
      } else if (decision.verdict !== 'refuse') {
        printLines(`OK: ${decision.reason}`)
      }
      if (decision.verdict === 'refuse') {
        throw new CommandFailure(`${file}: refused: ${decision.reason}`)
      }
    })
}

interface ReleaseSummary {
  releaseId: string
  fleet: string
  sequence: number
  issuedAt: string
  expiresAt: string | null
  revision: string
  objects: number
  objectBytes: number
  chunkBytes: number
  chunks: number
  signedBy: string[]
}

function describe(release: Release): ReleaseSummary {
  checkReleaseRevision(release)
  return {
    releaseId: releaseId(release),
    fleet: release.fleet,
    sequence: release.sequence,
    issuedAt: release.issuedAt,
    expiresAt: release.expiresAt ?? null,
    revision: release.revision.sha256,
    objects: release.objects.length,
    objectBytes: release.objects.reduce((sum, o) => sum + o.size, 0),
    chunkBytes: release.chunkBytes,
    chunks: release.objects.reduce((sum, o) => sum + o.chunks.length, 0),
    signedBy: release.signatures.map(s => s.key),
  }
}

function humanSummary(s: ReleaseSummary): string[] {
  return [
    `release   ${s.releaseId}`,
    `fleet     ${s.fleet}, sequence ${s.sequence}`,
    `issued    ${s.issuedAt}${s.expiresAt === null ? '' : `, expires ${s.expiresAt}`}`,
    `revision  ${s.revision}`,
    `objects   ${s.objects} (${formatBytes(s.objectBytes)}), ${s.chunks} chunks of ${formatBytes(s.chunkBytes)}`,
    `signed by ${s.signedBy.join(', ')}`,
  ]
}

function parseExpiry(text: string, from: Date): Date {
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const at = new Date(text)
    if (Number.isNaN(at.getTime())) throw new CommandFailure(`--expires ${text}: not a valid time`)
    // every device would refuse it on arrival: a release that is dead when made is a mistake
    if (at.getTime() <= from.getTime()) {
      throw new CommandFailure(`--expires ${text}: already past (issued ${from.toISOString()})`)
    }
    return at
  }
  const duration = ms(text as ms.StringValue)
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) {
    throw new CommandFailure(
      `--expires ${text}: expected a duration like 30d or 12h, or an RFC 3339 time`,
    )
  }
  return new Date(from.getTime() + duration)
}
