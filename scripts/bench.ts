/**
 * `npm run bench -- <name> [--json] [options]`: one of the benchmarks listed in
 * scripts/bench/benchmarks.ts. Each prints what it measured and, last, one JSON line with its
 * figures (one per case for those that measure several); with --json those lines are all it
 * prints (use `npm run -s` to drop npm's own header).
 */
import { Command, CommanderError } from 'commander'
import { BENCHMARKS } from './bench/benchmarks.js'
import type { BenchResult } from './bench/types.js'

function program(done: (result: Promise<BenchResult | readonly BenchResult[]>) => void): Command {
  const root = new Command('bench')
    .description('pvswarm benchmarks: each prints one JSON line with its figures')
    .exitOverride()
  for (const benchmark of BENCHMARKS) {
    const command = benchmark
      .options(root.command(benchmark.name).description(benchmark.summary))
      .option('--json', 'print only the result line', false)
      .exitOverride()
    command.action((options: Record<string, unknown>) => {
      const json = options.json === true
      done(
        benchmark.run(options, {
          detail: line => {
            if (!json) process.stdout.write(`${line}\n`)
          },
        }),
      )
    })
  }
  return root
}

async function main(argv: string[]): Promise<number> {
  let running: Promise<BenchResult | readonly BenchResult[]> | undefined
  const command = program(result => (running = result))
  try {
    await command.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    throw err
  }
  if (running === undefined) {
    command.outputHelp()
    return 2
  }
  const result = await running
  for (const line of Array.isArray(result) ? result : [result]) {
    process.stdout.write(`${JSON.stringify(line)}\n`)
  }
  return 0
}

main(process.argv).then(
  code => {
    process.exitCode = code
  },
  err => {
    process.stderr.write(`bench: ${(err as Error).message}\n`)
    if (process.env.PVSWARM_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`)
    process.exitCode = 1
  },
)
