import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import type { DownloadView } from '../../node/index.js'
import { DEFAULT_API, formatSeconds, getFromApi, shortPeer } from '../api-client.js'
import { formatBytes, printJson, printLines } from '../output.js'
import { parsePositiveInteger } from '../parse.js'

/** What `GET /status` answers, as far as this command reads it. */
interface StatusAnswer {
  peerId: string
  name?: string
  peers: string[]
  releases: Array<{
    id: string
    fleet: string
    sequence: number
    phase: string
    seeded: boolean
    superseded?: boolean
    download?: DownloadView
  }>
  uploads: { bytesServed: number; activeUploads: number }
  handover: { releaseId: string; phase: string } | null
}

/** Objects shown one bar each; the rest are summed up in one line. */
const MAX_OBJECT_BARS = 8

interface BarPayload {
  label: string
  amount: string
  rate: string
  eta: string
  peers: string
}

const barOptions: cliProgress.Options = {
  format: (options, params, payload: BarPayload) =>
    `${payload.label.padEnd(20)} ${cliProgress.Format.BarFormat(params.progress, options)} ` +
    `${String(Math.floor(params.progress * 100)).padStart(3)}% | ${payload.amount}` +
    `${payload.rate}${payload.eta}${payload.peers}`,
  barsize: 30,
  hideCursor: true,
  emptyOnZero: true,
  noTTYOutput: true,
  notTTYSchedule: 1000,
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("this device's releases, download progress, hand-over and peers")
    .option('--api <host:port>', "a running daemon's local API", DEFAULT_API)
    .option('--watch', 'keep showing live progress bars (Ctrl-C ends)')
    .option('--updates <n>', 'with --watch: end after this many updates', parsePositiveInteger)
    .option('--json', 'print the status as JSON')
    .action(async (options: { api: string; watch?: boolean; updates?: number; json?: boolean }) => {
      if (options.watch === true && options.json !== true) {
        return watch(options.api, options.updates)
      }
      const status = await getFromApi<StatusAnswer>(options.api, '/status')
      if (options.json === true) return printJson(status)
      printLines(...summary(status))
      const bars = barsOf(status)
      if (bars.length === 0) return
      const multi = new cliProgress.MultiBar({ ...barOptions, stream: process.stdout })
      for (const bar of bars) multi.create(bar.total, bar.value, bar.payload)
      multi.stop()
    })
}

/** The lines above the bars: who answers, what it holds, where its hand-over is. */
function summary(status: StatusAnswer): string[] {
  const lines = [
    `device  ${status.name ?? '?'} (${status.peerId})`,
    `peers   ${status.peers.length}   served ${formatBytes(status.uploads.bytesServed)}`,
  ]
  if (status.releases.length === 0) lines.push('releases: none accepted yet')
  for (const release of [...status.releases].sort((a, b) => b.sequence - a.sequence)) {
    const seeded = release.seeded ? ', seeded here' : ''
    lines.push(
      `release #${release.sequence} ${shortPeer(release.id)} ${release.fleet}: ${phaseText(release)}${seeded}`,
    )
  }
  if (status.handover !== null) {
    lines.push(`hand-over ${shortPeer(status.handover.releaseId)}: ${status.handover.phase}`)
  }
  return lines
}

/** A release's phase; one a newer release replaced says so, and where it had got to. */
function phaseText(release: StatusAnswer['releases'][number]): string {
  if (release.superseded !== true) return release.phase
  if (release.phase === 'downloading') return 'superseded (stopped while downloading)'
  return `${release.phase}, superseded`
}

interface BarSpec {
  key: string
  total: number
  value: number
  payload: BarPayload
}

/** One bar for each download in total, then one per unfinished object. */
function barsOf(status: StatusAnswer): BarSpec[] {
  const bars: BarSpec[] = []
  for (const release of status.releases) {
    const download = release.download
    if (download === undefined || !('objects' in download)) continue
    bars.push({
      key: release.id,
      total: download.bytesTotal,
      value: download.bytesDone,
      payload: {
        label: `#${release.sequence} total`,
        amount: `${formatBytes(download.bytesDone)}/${formatBytes(download.bytesTotal)}`,
        rate: ` | ${formatBytes(download.rateBytesPerSecond)}/s`,
        eta: ` | ETA ${formatSeconds(download.etaSeconds)}`,
        peers: ` | ${download.peersServing} peers serving`,
      },
    })
    const unfinished = download.objects.filter(object => object.chunksDone < object.chunksTotal)
    for (const object of unfinished.slice(0, MAX_OBJECT_BARS)) {
      bars.push({
        key: `${release.id}/${object.sha256}`,
        total: object.chunksTotal,
        value: object.chunksDone,
        payload: {
          label: `  ${object.sha256.slice(0, 12)}`,
          amount: `${object.chunksDone}/${object.chunksTotal} chunks of ${formatBytes(object.sizeBytes)}`,
          rate: '',
          eta: '',
          peers: '',
        },
      })
    }
    if (unfinished.length > MAX_OBJECT_BARS) {
      bars.push({
        key: `${release.id}/more`,
        total: 1,
        value: 0,
        payload: {
          label: `  +${unfinished.length - MAX_OBJECT_BARS} objects`,
          amount: 'waiting',
          rate: '',
          eta: '',
          peers: '',
        },
      })
    }
  }
  return bars
}

/** Live bars, redrawn from `GET /status` every second. */
async function watch(api: string, updates: number | undefined): Promise<void> {
  const first = await getFromApi<StatusAnswer>(api, '/status')
  printLines(...summary(first))
  const multi = new cliProgress.MultiBar({ ...barOptions, stream: process.stdout })
  const shown = new Map<string, cliProgress.SingleBar>()
  let interrupted = false
  const stop = (): void => void (interrupted = true)
  process.once('SIGINT', stop)
  try {
    let status = first
    let hadBars = false
    for (let update = 1; ; update++) {
      const wanted = barsOf(status)
      const keys = new Set(wanted.map(bar => bar.key))
      for (const [key, bar] of shown) {
        if (keys.has(key)) continue
        multi.remove(bar)
        shown.delete(key)
      }
      for (const spec of wanted) {
        const bar = shown.get(spec.key)
        if (bar === undefined)
          shown.set(spec.key, multi.create(spec.total, spec.value, spec.payload))
        else {
          bar.setTotal(spec.total)
          bar.update(spec.value, spec.payload)
        }
      }
      // say it once, not every second
      if (wanted.length === 0 && (update === 1 || hadBars))
        multi.log(`no download in progress (${new Date().toLocaleTimeString()})\n`)
      hadBars = wanted.length > 0
      if (interrupted || (updates !== undefined && update >= updates)) break
      await new Promise(resolve => setTimeout(resolve, 1000))
      if (interrupted) break
      status = await getFromApi<StatusAnswer>(api, '/status')
    }
  } finally {
    process.off('SIGINT', stop)
    multi.stop()
  }
}
