import type { Command } from 'commander'
import type { FloorRow } from '../../node/index.js'
import { DEFAULT_API, formatSeconds, getFromApi, shortPeer } from '../api-client.js'
import { printJson, printLines } from '../output.js'

interface FloorAnswer {
  self: string
  devices: FloorRow[]
}

export function registerFleet(program: Command): void {
  program
    .command('fleet')
    .description('the floor as one device knows it: every device, its release, progress, trial')
    .option('--api <host:port>', "a running daemon's local API", DEFAULT_API)
    .option('--json', 'print the floor as JSON')
    .action(async (options: { api: string; json?: boolean }) => {
      const floor = await getFromApi<FloorAnswer>(options.api, '/floor')
      if (options.json === true) return printJson(floor.devices)
      printLines(...floorTable(floor.devices))
    })
}

/** The floor as aligned text columns, one device a line. */
export function floorTable(devices: readonly FloorRow[]): string[] {
  const header = [
    'DEVICE',
    'PEER',
    'FLEET',
    'INSTALLED',
    'NEWEST',
    'PROGRESS',
    'STATE',
    'TRIAL',
    'SEEN',
  ]
  const rows = devices.map(device => {
    const newest = device.newest
    const percent =
      newest === null || newest.chunksTotal === 0
        ? '—'
        : `${Math.floor((100 * newest.chunksDone) / newest.chunksTotal)}%`
    const trial =
      device.trial === null
        ? '—'
        : device.trial.status === ''
          ? device.trial.result
          : `${device.trial.result} (${device.trial.status})`
    return [
      device.self ? `${device.name} *` : device.name,
      shortPeer(device.peer),
      device.fleet,
      device.installed === null ? '—' : `#${device.installed.sequence}`,
      newest === null ? '—' : `#${newest.sequence}`,
      percent,
      newest?.phase ?? 'no release',
      trial,
      device.self ? 'self' : `${formatSeconds(device.lastSeenAgeMs / 1000)} ago`,
    ]
  })
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map(row => row[column]!.length)),
  )
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line), `${devices.length} devices (* = the one answering)`]
}
