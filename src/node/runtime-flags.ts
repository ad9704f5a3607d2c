/**
 * Node/V8 flags every device process runs with: the `pvswarm` launcher (bin/pvswarm.js), the
 * simulator's device processes and the memory benchmark's downloader all start node with them,
 * so what is measured is what a device runs.
 *
 * `--max-semi-space-size=1` (MiB): V8's young generation grows to 16 MiB per semi-space by
 * default (48 MiB reserved with the third, promotion space). A device streams through 1 MiB
 * chunks that die young, and a small young generation collects them sooner without costing
 * throughput at these rates. Measured with `bench memory` (1 GiB object) on a 2-core machine:
 * peak RSS see README, Benchmarks.
 */
export const DEVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1']

/**
 * The device flags not already given, either on node's command line (`execArgv`) or in
 * NODE_OPTIONS: a flag the user chose wins over the default here, whatever its value.
 */
export function missingDeviceFlags(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const given = new Set(
    [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(flagName).filter(name => name !== ''),
  )
  return DEVICE_NODE_FLAGS.filter(flag => !given.has(flagName(flag)))
}

/** `--max_semi_space_size=4` and `--max-semi-space-size 4` both name `--max-semi-space-size`. */
function flagName(arg: string): string {
  if (!arg.startsWith('--')) return ''
  return arg.split('=')[0]!.replaceAll('_', '-')
}
