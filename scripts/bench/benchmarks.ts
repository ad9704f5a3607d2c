import { deltaBenchmark } from './delta.js'
import { memoryBenchmark } from './memory.js'
import { spreadBenchmark } from './spread.js'
import { streamBenchmark } from './stream.js'
import type { Benchmark } from './types.js'

/** Every benchmark `npm run bench -- <name>` knows, in the order `--help` lists them. */
export const BENCHMARKS: readonly Benchmark[] = [
  streamBenchmark,
  memoryBenchmark,
  spreadBenchmark,
  deltaBenchmark,
]
