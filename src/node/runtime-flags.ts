/**
 * Node/V8 flags every device process runs with: the `pvswarm` launcher (bin/pvswarm.js), the
 * simulator's device processes and the memory benchmark's downloader all start node with them,
 * so what is measured is what a device runs.
 *
 * `--max-semi-space-size=1` (MiB): V8's young generation grows to 16 MiB per semi-space by
 * default. A device streams network buffers that die young; with a small young generation they
 * are collected by frequent scavenges instead of piling up (as external memory) until V8 runs a
 * full collection. `bench memory` (1 GiB object, 2-core machine, two runs each): peak RSS
 * 237.6 / 232.6 MiB with V8's defaults, 187.0 / 165.7 with 1 MiB, 171.8 / 198.2 with 2, 188.4 /
 * 207.1 with 4. Throughput does not suffer: `bench stream` run under this flag moved as much
 * through pvswarm and more through a bare libp2p stream (no full GCs left in either).
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
