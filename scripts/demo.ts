/**
 * `npm start`: what pvswarm's foundation does, on a revision generated on the
 * spot — sign a release, judge it as a device would, store it, export it, and
 * show what a device refuses. Needs nothing but a fresh clone.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decideRelease, type ReleasePolicyInput } from '../src/policy/index.js'
import {
  createRelease,
  describingSink,
  generateReleaseKey,
  releaseId,
  signRelease,
} from '../src/release/index.js'
import { exportPvr, importRevision, discardingSink } from '../src/revision/index.js'
import { openStore } from '../src/store/index.js'
import { generateRevision } from '../test/sim/revision-generator.js'

const say = (line = ''): void => void process.stdout.write(line + '\n')
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pvswarm-demo-'))
  try {
    say('pvswarm demo: one release, judged and stored as a device would')
    const generated = await generateRevision({ path: join(work, 'rev.tgz') })
    say(
      `generated revision ${generated.stateSha256.slice(0, 12)}…: ${generated.objectCount} objects, ${mib(generated.objectBytes)}`,
    )

    const key = generateReleaseKey()
    const sink = describingSink(1024 * 1024)
    const { revision } = await importRevision(generated.path, sink)
    const release = signRelease(
      createRelease({
        revision,
        objects: [...sink.described.values()],
        fleet: 'floor-1',
        sequence: 7,
      }),
      key,
    )
    const id = releaseId(release)
    say(`signed release ${id.slice(0, 12)}… (fleet floor-1, sequence 7) with ${key.publicKey}`)

    const device: ReleasePolicyInput = {
      release,
      releaseId: id,
      fleet: 'floor-1',
      trustedKeys: [key.publicKey],
      history: { highestSequence: 6 },
      clock: { nowMs: Date.now() },
    }
    say(`device decision: ${decideRelease(device).verdict}`)

    const store = await openStore({ dataDir: join(work, 'device') })
    const started = performance.now()
    const imported = await importRevision(generated.path, store)
    const seconds = (performance.now() - started) / 1000
    say(
      `stored ${imported.objects.length} objects in the device's data directory, every byte verified (${(generated.objectBytes / 1024 / 1024 / seconds).toFixed(0)} MiB/s)`,
    )

    const exported = join(work, 'exported.tgz')
    const out = createWriteStream(exported)
    await exportPvr(revision, store, out, { gzip: true })
    out.end()
    await finished(out)
    const again = await importRevision(exported, discardingSink())
    say(
      `exported it again as a pvr export: same revision ${again.revision.sha256 === revision.sha256 ? 'yes' : 'NO'}`,
    )
    await store.close()

    say()
    say('what a device refuses, before fetching a single byte:')
    const cases: Array<[string, ReleasePolicyInput]> = [
      ['signed by an untrusted key', { ...device, trustedKeys: [generateReleaseKey().publicKey] }],
      ['one flipped bit', { ...device, release: { ...release, sequence: release.sequence + 1 } }],
      ['an older sequence', { ...device, history: { highestSequence: 9 } }],
      ['another fleet', { ...device, fleet: 'floor-2' }],
      [
        'expired',
        {
          ...device,
          release: signRelease(
            { ...release, expiresAt: '2020-01-01T00:00:00Z', issuedAt: '2019-12-01T00:00:00Z' },
            key,
          ),
        },
      ],
    ]
    for (const [what, input] of cases) {
      const decision = decideRelease(input)
      say(
        `  ${what.padEnd(28)} → ${decision.verdict === 'refuse' ? decision.code : decision.verdict}`,
      )
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

main().catch(err => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? err}\n`)
  process.exitCode = 1
})
