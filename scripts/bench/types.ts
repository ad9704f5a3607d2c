import type { Command } from 'commander'

/**
 * What every benchmark prints last: one JSON object naming the benchmark, or one per case
 * measured (a fleet size, a revision pair).
 */
export type BenchResult = { bench: string } & Record<string, unknown>

/** Where a benchmark says what it is doing and what each run measured. */
export interface BenchReporter {
  /** a line for a person (silent with --json, where only the result line is printed) */
  detail(line: string): void
}

/**
 * One benchmark of `npm run bench -- <name>`. Each lives in a file of its own under
 * scripts/bench/ and is listed once in benchmarks.ts.
 */
export interface Benchmark {
  name: string
  /** one line for `--help` */
  summary: string
  /** adds the benchmark's own options to its command (`--json` is already there) */
  options(command: Command): Command
  /** runs the benchmark with its parsed options; resolves with the result line (or lines) */
  run(
    options: Record<string, unknown>,
    reporter: BenchReporter,
  ): Promise<BenchResult | readonly BenchResult[]>
}
