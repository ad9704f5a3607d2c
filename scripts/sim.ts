/**
 * `npm run sim -- --devices N --revision <pvr export> [--then <pvr export>…]
 * [--netns --link-mbit B] [--json]`: a floor of simulated devices, device 0
 * seeded with a signed release of each revision in turn, every device
 * followed to its trial's outcome. Live progress and a summary, or with
 * --json a single closing line (see test/sim/summary.ts).
 */
import { access, mkdtemp, rm } from 'node:fs/promises'
import { constants as fsConstants, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import {
  checkNetnsSupport,
  DEFAULT_LINK_MBIT,
  formatSummary,
  generateRevision,
  jsonLine,
  onTeardown,
  ProgressView,
  runFleet,
  type FleetInit,
  type FleetRunResult,
} from '../test/sim/index.js'

interface SimOptions {
  devices: number
  revision?: string
  then: string[]
  netns: boolean
  staticPeers: boolean
  linkMbit: number
  json: boolean
  chunkKib: number
  seedOnly: boolean
  dht: boolean
  log?: string
  timeoutS?: number
  generateMib: number
}

function positiveInteger(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a whole number ≥ 1, got "${text}"`)
  }
  return value
}

function nonNegativeNumber(text: string): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`expected a number ≥ 0, got "${text}"`)
  }
  return value
}

function program(): Command {
  return new Command('sim')
    .description('spread releases over a floor of simulated pvswarm devices')
    .addOption(
      new Option('--devices <n>', 'devices on the floor, the seed included')
        .argParser(positiveInteger)
        .default(8),
    )
    .option('--revision <pvr export>', 'the first revision (default: one generated on the spot)')
    .option(
      '--then <pvr export>',
      'a later revision, published once the one before settled everywhere (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--netns', 'one process per device in network namespaces (root)', false)
    .addOption(
      new Option('--link-mbit <rate>', 'netns: each link, both ways, in Mbit/s; 0 = unshaped')
        .argParser(nonNegativeNumber)
        .default(DEFAULT_LINK_MBIT),
    )
    .option(
      '--static-peers',
      'netns: tell each device of the ones started before it instead of mDNS',
      false,
    )
    .option('--json', 'print only one JSON line at the end', false)
    .addOption(
      new Option('--chunk-kib <size>', 'chunk size of the releases')
        .argParser(positiveInteger)
        .default(1024),
    )
    .option('--seed-only', 'devices may not serve each other (the central baseline)', false)
    .option('--dht', 'run the DHT (provider records) as well', false)
    .option('--log <file>', "append every device's log to this file")
    .addOption(
      new Option(
        '--timeout-s <seconds>',
        'how long one release may take to settle everywhere',
      ).argParser(positiveInteger),
    )
    .addOption(
      new Option('--generate-mib <size>', 'size of the generated revision')
        .argParser(positiveInteger)
        .default(24),
    )
    .exitOverride()
}

async function readable(path: string, what: string): Promise<string> {
  const full = resolve(path)
  try {
    await access(full, fsConstants.R_OK)
  } catch {
    throw new Error(`${what}: cannot read ${full}`)
  }
  return full
}

async function main(argv: string[]): Promise<number> {
  const command = program()
  try {
    command.parse(argv)
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    throw err
  }
  const options = command.opts<SimOptions>()
  if (options.netns) await checkNetnsSupport()

  let removeGenerated: (() => Promise<void>) | undefined
  try {
    const revisions: string[] = []
    if (options.revision !== undefined) {
      revisions.push(await readable(options.revision, '--revision'))
    } else {
      const generatedDir = await mkdtemp(join(tmpdir(), 'pvswarm-sim-rev-'))
      removeGenerated = onTeardown({
        what: `generated revision in ${generatedDir}`,
        cleanup: () => rm(generatedDir, { recursive: true, force: true }),
        cleanupSync: () => rmSync(generatedDir, { recursive: true, force: true }),
      })
      const generated = await generateRevision({
        path: join(generatedDir, 'generated.tgz'),
        totalBytes: options.generateMib * 1024 * 1024,
      })
      revisions.push(generated.path)
    }
    for (const path of options.then) revisions.push(await readable(path, '--then'))

    const init: FleetInit = {
      devices: options.devices,
      mode: options.netns ? 'netns' : 'inprocess',
      linkMbit: options.linkMbit,
      discovery: options.staticPeers ? 'static' : 'mdns',
      chunkBytes: options.chunkKib * 1024,
      serveOnlyAsSeed: options.seedOnly,
      dht: options.dht,
      logFile: options.log === undefined ? undefined : resolve(options.log),
      sequenceTimeoutMs: options.timeoutS === undefined ? undefined : options.timeoutS * 1000,
    }
    const view = options.json ? undefined : new ProgressView()
    let result: FleetRunResult
    try {
      result = await runFleet(init, revisions, {
        onStart: fleet => {
          view?.attach(fleet)
          view?.say(
            `floor of ${fleet.devices.length} devices up; every device saw every other ` +
              `${fleet.meshComplete ? 'after' : 'NOT within'} ${fleet.meshSeconds.toFixed(1)} s`,
          )
        },
      })
    } finally {
      view?.stop()
    }
    if (options.json) process.stdout.write(JSON.stringify(jsonLine(result)) + '\n')
    else process.stdout.write('\n' + formatSummary(result).join('\n') + '\n')
    return result.allDone ? 0 : 1
  } finally {
    await removeGenerated?.()
  }
}

main(process.argv).then(
  code => {
    process.exitCode = code
  },
  err => {
    process.stderr.write(`sim: ${(err as Error).message}\n`)
    if (process.env.PVSWARM_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`)
    process.exitCode = 1
  },
)
