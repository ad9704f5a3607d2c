import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Command } from 'commander'
import { interfaceAddresses, probeMdns } from '../../discovery/index.js'
import { IDENTITY_FILE, loadOrCreateIdentity, readFleetKey } from '../../node/index.js'
import { sha256Hex } from '../../util/hex.js'
import { parseHostPort } from '../../util/host-port.js'
import { DEFAULT_API, getFromApi } from '../api-client.js'
import {
  doctorChecks,
  type ApiFacts,
  type Check,
  type DoctorFacts,
  type FleetKeyFacts,
} from '../doctor-checks.js'
import { CommandFailure } from '../errors.js'
import { printJson, printLines } from '../output.js'
import { parsePositiveInteger } from '../parse.js'

interface DoctorOptions {
  data?: string
  api: string
  fleetKey?: string
  waitMs: number
  json?: boolean
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description("why can't I see my peers? checks interfaces, mDNS, the daemon and the fleet key")
    .option('--data <dir>', "the device's data directory (its peer id is told apart)")
    .option('--api <host:port>', "a running daemon's local API", DEFAULT_API)
    .option('--fleet-key <file>', 'fleet key file to check')
    .option('--wait <ms>', 'how long to collect mDNS answers', parsePositiveInteger, 2000)
    .option('--json', 'print the findings as JSON')
    .action(async (options: DoctorOptions & { wait: number }) => {
      const facts = await gatherFacts({ ...options, waitMs: options.wait })
      const checks = doctorChecks(facts)
      if (options.json === true) printJson({ checks, ...facts })
      else printLines(...interfaceLines(facts), '', ...checks.map(checkLine))
      // a warning is a finding; a check that failed makes the exit code 1, for scripts
      if (checks.some(check => check.status === 'fail')) process.exitCode = 1
    })
}

async function gatherFacts(options: DoctorOptions): Promise<DoctorFacts> {
  if (parseHostPort(options.api) === undefined) {
    throw new CommandFailure(`--api: expected host:port, got "${options.api}"`)
  }
  const selfPeerId = options.data === undefined ? undefined : await dataPeerId(options.data)
  const interfaces = interfaceAddresses()
  const addresses = interfaces.filter(i => i.usedByMdns).map(i => i.address)
  const [probe, api, fleetKey] = await Promise.all([
    probeMdns({ addresses, waitMs: options.waitMs }),
    apiFacts(options.api),
    fleetKeyFacts(options.fleetKey),
  ])
  return { interfaces, probe, api, fleetKey, ...(selfPeerId === undefined ? {} : { selfPeerId }) }
}

/** The peer id kept in a data directory; none is created when there is none. */
async function dataPeerId(dataDir: string): Promise<string | undefined> {
  const info = await stat(dataDir).catch(() => undefined)
  if (info === undefined || !info.isDirectory()) {
    throw new CommandFailure(`--data: ${dataDir} is not a directory`)
  }
  const identity = join(dataDir, IDENTITY_FILE)
  if ((await stat(identity).catch(() => undefined)) === undefined) return undefined
  return peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir)).toString()
}

async function apiFacts(api: string): Promise<ApiFacts> {
  let status: { peerId: string; name?: string; addresses?: string[]; peers: string[] }
  try {
    status = await getFromApi(api, '/status')
  } catch (err) {
    return { reachable: false, api, reason: apiReason(err as Error) }
  }
  // only a daemon with operator views has a floor; the others answer 404
  const floor = await getFromApi<{ self: string; devices: Array<{ peer: string }> }>(
    api,
    '/floor',
  ).catch(() => undefined)
  return {
    reachable: true,
    api,
    peerId: status.peerId,
    ...(status.name === undefined ? {} : { name: status.name }),
    addresses: status.addresses ?? [],
    peers: status.peers,
    ...(floor === undefined
      ? {}
      : { floorDevices: floor.devices.filter(d => d.peer !== floor.self).length }),
  }
}

/** `ECONNREFUSED` out of getFromApi's sentence, or the sentence itself. */
function apiReason(err: Error): string {
  return /\(([^()]+)\); is it/.exec(err.message)?.[1] ?? err.message
}

async function fleetKeyFacts(path: string | undefined): Promise<FleetKeyFacts> {
  if (path === undefined) return { given: false }
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => err)
  if (info instanceof Error) {
    const missing = info.code === 'ENOENT'
    return {
      given: true,
      path,
      error: missing ? 'missing' : 'unreadable',
      message: `fleet key ${path}: ${missing ? 'no such file' : info.message}`,
    }
  }
  let key: Uint8Array
  try {
    key = await readFleetKey(path)
  } catch (err) {
    const message = (err as Error).message
    return {
      given: true,
      path,
      error: /cannot be read/.test(message) ? 'unreadable' : 'format',
      message,
    }
  }
  // the canonical text hashed: two devices agree exactly when their keys do
  return { given: true, path, mode: info.mode, fingerprint: sha256Hex(key).slice(0, 16) }
}

function interfaceLines(facts: DoctorFacts): string[] {
  const lines = ['interfaces (* = used by pvswarm mDNS):']
  for (const i of facts.interfaces) {
    const note = i.internal ? ' loopback' : ''
    lines.push(`  ${i.usedByMdns ? '*' : ' '} ${i.name.padEnd(10)} ${i.family} ${i.address}${note}`)
  }
  for (const answer of facts.probe.answers) {
    const self = answer.peerId === facts.selfPeerId ? ' (this device)' : ''
    lines.push(`mDNS answer from ${answer.from}: ${answer.peerId}${self}`)
    for (const address of answer.multiaddrs) lines.push(`    ${address}`)
  }
  return lines
}

function checkLine(check: Check): string {
  const hint = check.hint === undefined ? '' : `\n       hint: ${check.hint}`
  return `${check.status.padEnd(5)}  ${check.id}: ${check.summary}${hint}`
}
