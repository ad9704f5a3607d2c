import { basename } from 'node:path'
import type { FleetRunResult } from './fleet-run.js'
import type { CpuUse, SequenceResult } from './fleet-types.js'
import { formatBytes as formatBinaryBytes } from '../../src/util/format.js'

/** The `--json` line of `npm run sim`, fields in the order issue 5 gives them. */
export interface SimJsonLine {
  sim: 'done'
  /** one entry per device per sequence, sequence by sequence */
  devices: Array<{
    name: string
    /** release id */
    release: string
    outcome: 'DONE' | 'UPDATED' | 'ERROR' | 'WONTGO' | null
    bytes_from_seed: number
    bytes_from_peers: number
  }>
  all_done: boolean
  seconds: number
  mode: 'inprocess' | 'netns'
  link_mbit: number | null
  sequences: Array<{
    sequence: number
    release: string
    revision: string
    revision_bytes: number
    seconds: number
    all_done: boolean
    served_by_seed_bytes: number
    served_by_peers_bytes: number
    duplicate_bytes: number
    cpu_seconds: number
    cpu_cores: number
    machine_busy: number | null
  }>
}

export function jsonLine(result: FleetRunResult): SimJsonLine {
  return {
    sim: 'done',
    devices: result.sequences.flatMap(sequence =>
      sequence.devices.map(device => ({
        name: device.name,
        release: sequence.releaseId,
        outcome: device.outcome,
        bytes_from_seed: device.bytesFromSeed,
        bytes_from_peers: device.bytesFromPeers,
      })),
    ),
    all_done: result.allDone,
    seconds: round(result.seconds, 3),
    mode: result.mode,
    link_mbit: result.linkMbit ?? null,
    sequences: result.sequences.map(s => ({
      sequence: s.sequence,
      release: s.releaseId,
      revision: basename(s.revisionPath),
      revision_bytes: s.revisionBytes,
      seconds: round(s.seconds, 3),
      all_done: s.allDone,
      served_by_seed_bytes: s.servedBySeedBytes,
      served_by_peers_bytes: s.servedByPeersBytes,
      duplicate_bytes: s.duplicateBytes,
      cpu_seconds: round(s.cpu.simulatorSeconds + (s.cpu.deviceSeconds ?? 0), 2),
      cpu_cores: round(s.cpu.cores, 2),
      machine_busy: s.cpu.machineBusy === undefined ? null : round(s.cpu.machineBusy, 2),
    })),
  }
}

/** The closing summary: per sequence every device's outcome, time and bytes, then the totals. */
export function formatSummary(result: FleetRunResult): string[] {
  const lines: string[] = []
  const floor =
    result.mode === 'netns'
      ? `${result.devices} devices in network namespaces, links ${result.linkMbit} Mbit/s each way`
      : `${result.devices} devices in one process on loopback`
  lines.push(
    `summary: ${floor}`,
    '(fetched, settled: seconds from the release being on the floor to the download being',
    'complete and to the trial outcome; from seed/peers: bytes received; served: bytes sent)',
  )
  if (!result.meshComplete) {
    lines.push(
      `  warning: not every device saw every other within ${result.meshSeconds.toFixed(1)} s`,
    )
  }
  for (const sequence of result.sequences) lines.push('', ...formatSequence(sequence, result))
  lines.push(
    '',
    `${result.sequences.length} sequence(s) in ${result.seconds.toFixed(1)} s; ` +
      `every device DONE/UPDATED: ${result.allDone ? 'yes' : 'NO'}`,
  )
  return lines
}

function formatSequence(s: SequenceResult, result: FleetRunResult): string[] {
  const lines = [
    `sequence ${s.sequence}: ${basename(s.revisionPath)} (${formatBytes(s.revisionBytes)}), ` +
      `release ${s.releaseId.slice(0, 12)}…: ${s.seconds.toFixed(1)} s` +
      (s.timedOut ? ' (TIMED OUT)' : '') +
      ` (seed import ${s.seedImportSeconds.toFixed(1)} s before)`,
  ]
  if (result.mode === 'netns' && result.linkMbit !== undefined && result.linkMbit > 0) {
    const received = s.devices.reduce((sum, d) => sum + d.bytesFromSeed + d.bytesFromPeers, 0)
    const perDevice = received / Math.max(1, s.devices.length - 1)
    const boundSeconds = (perDevice * 8) / (result.linkMbit * 1e6)
    lines.push(
      `  one device's share over one link: ${boundSeconds.toFixed(1)} s ` +
        `(${formatBytes(perDevice)} at ${result.linkMbit} Mbit/s)`,
    )
  }
  lines.push(
    '  device  outcome   fetched  settled    from seed   from peers       served',
    ...s.devices.map(d =>
      [
        `  ${d.name.padEnd(6)}${d.seed ? '*' : ' '}`,
        (d.outcome ?? (d.phase === 'settled' ? '?' : d.phase)).padEnd(8),
        seconds(d.downloadSeconds).padStart(8),
        seconds(d.outcomeSeconds).padStart(8),
        formatBytes(d.bytesFromSeed).padStart(12),
        formatBytes(d.bytesFromPeers).padStart(12),
        formatBytes(d.bytesServed).padStart(12),
        d.error === undefined ? '' : `  ${d.error.split('\n')[0]}`,
      ]
        .join(' ')
        .trimEnd(),
    ),
  )
  const served = s.servedBySeedBytes + s.servedByPeersBytes
  const share = (bytes: number): string =>
    served > 0 ? ` (${Math.round((bytes / served) * 100)}%)` : ''
  lines.push(
    `  served: seed ${formatBytes(s.servedBySeedBytes)}${share(s.servedBySeedBytes)}, ` +
      `peers ${formatBytes(s.servedByPeersBytes)}${share(s.servedByPeersBytes)}; ` +
      `duplicates ${formatBytes(s.duplicateBytes)}`,
    `  ${formatCpu(s.cpu)}`,
  )
  return lines
}

export function formatCpu(cpu: CpuUse): string {
  const parts = [`simulator ${cpu.simulatorSeconds.toFixed(1)} s`]
  if (cpu.deviceSeconds !== undefined)
    parts.push(`device processes ${cpu.deviceSeconds.toFixed(1)} s`)
  const busy =
    cpu.machineBusy === undefined ? '' : `, machine ${Math.round(cpu.machineBusy * 100)}% busy`
  return (
    `CPU: ${parts.join(' + ')} over ${cpu.wallSeconds.toFixed(1)} s = ` +
    `${cpu.cores.toFixed(2)} of ${cpu.machineCores} cores${busy}`
  )
}

/** 1536 → "1.5 KiB"; binary units, one decimal. */
export function formatBytes(bytes: number): string {
  return formatBinaryBytes(bytes, 1)
}

function seconds(value: number | null): string {
  return value === null ? '-' : `${value.toFixed(1)} s`
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}
