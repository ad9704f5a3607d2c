import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { EXCHANGE_DEFAULTS } from '../exchange/index.js'
import { PvswarmError } from '../util/errors.js'
import { parseHostPort } from '../util/host-port.js'

/** A config file that cannot be used: names the file and the field. */
export class ConfigError extends PvswarmError {
  static override readonly name = 'ConfigError'
}

const multiaddr = z.string().regex(/^\//, 'expected a multiaddr starting with /')

/**
 * Everything `pvswarm daemon` can be told, as flags or in a JSON config file
 * (`--config`); a flag given on the command line wins over the file.
 */
export const daemonConfigSchema = z
  .object({
    /** data directory: objects, releases, identity, device state */
    data: z.string().min(1),
    /** the name other devices and the fleet page show for this one. @default the hostname */
    name: z.string().min(1).max(64).optional(),
    /** the fleet this device belongs to */
    fleet: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1–64 of [A-Za-z0-9._-]'),
    /** trusted release keys, `ed25519:…` */
    trust: z
      .array(z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'expected ed25519:<base64url>'))
      .min(1),
    /** distinct trusted signatures a release needs. @default 1 */
    threshold: z.number().int().min(1).default(1),
    /** static peers (multiaddrs with /p2p/<id>) for networks without multicast */
    peer: z.array(multiaddr).default([]),
    /** file holding the fleet's private-network key (libp2p swarm.key format) */
    fleetKey: z.string().optional(),
    /** peer ids allowed to connect; empty = any peer that completes the handshake */
    allowPeer: z.array(z.string()).default([]),
    /** listen addresses. @default ['/ip4/0.0.0.0/tcp/0'] */
    listen: z.array(multiaddr).default(['/ip4/0.0.0.0/tcp/0']),
    /** addresses announced instead of the listen addresses */
    announce: z.array(multiaddr).default([]),
    /** discover peers by mDNS. @default true */
    mdns: z.boolean().default(true),
    /** DHT provider records for objects. @default true */
    dht: z.boolean().default(true),
    /** pv-ctrl socket; "none" for a download-only device; unset = probe the usual paths */
    pvctrl: z.string().optional(),
    /** local HTTP API address host:port; unset = no API */
    api: z
      .string()
      .refine(
        text => parseHostPort(text) !== undefined,
        'expected host:port with a port from 0 to 65535, like 127.0.0.1:8222',
      )
      .optional(),
    /** when to hand a complete release to Pantavisor: now, never, or HH:MM-HH:MM. @default now */
    handover: z
      .string()
      .refine(isHandoverSchedule, 'expected now, never or a daily window HH:MM-HH:MM (00:00-23:59)')
      .default('now'),
    /** the pv-ctrl command that starts the trial. @default LOCAL_RUN */
    runCommand: z.enum(['LOCAL_RUN', 'LOCAL_RUN_COMMIT']).default('LOCAL_RUN'),
    /** chunk requests served at once. @default 2 */
    uploadSlots: z.number().int().min(1).default(EXCHANGE_DEFAULTS.maxConcurrentUploads),
    /** a peer that takes a chunk slower than this loses its upload, in seconds. @default 30 */
    uploadDeadlineSeconds: z
      .number()
      .positive()
      .default(EXCHANGE_DEFAULTS.uploadDeadlineMs / 1000),
    /** upload cap in bytes per second; 0 = none. @default 0 */
    uploadRateBytesPerSecond: z.number().int().min(0).default(0),
    /** false on hardware without a trustworthy clock. @default true */
    clockTrusted: z.boolean().default(true),
    /** largest revision accepted, bytes */
    maxRevisionBytes: z.number().int().positive().optional(),
    /**
     * after a release is installed, drop the store's copies of objects Pantavisor now
     * holds and serve them to peers from Pantavisor. @default true when a pv-ctrl socket is used
     */
    dropStoreCopies: z.boolean().optional(),
    /** serve a release only as its seed (baseline measurements). @default false */
    serveOnlyAsSeed: z.boolean().default(false),
    /** log level. @default info */
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .strict()

export type DaemonConfig = z.infer<typeof daemonConfigSchema>

/** Settings without a default, with the flag that gives each. */
const REQUIRED_SETTINGS: ReadonlyArray<[string, string]> = [
  ['data', '--data'],
  ['fleet', '--fleet'],
  ['trust', '--trust'],
]

/** Reads a JSON config file (every field optional there). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let document: unknown
  try {
    document = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'not found' : (err as Error).message
    throw new ConfigError(`config file ${path}: ${reason}`)
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(`config file ${path}: expected a JSON object`)
  }
  return document as Record<string, unknown>
}

/** `now`, `never` or `HH:MM-HH:MM` with real times of day. */
export function isHandoverSchedule(text: string): boolean {
  if (text === 'now' || text === 'never') return true
  const window = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(text)
  if (window === null) return false
  const [, startH, startM, endH, endM] = window.map(Number)
  return startH! < 24 && endH! < 24 && startM! < 60 && endM! < 60
}

/** Merges file settings and flags (flags win) and validates the result. */
export function resolveDaemonConfig(
  fromFile: Record<string, unknown>,
  fromFlags: Record<string, unknown>,
  where = 'daemon settings',
): DaemonConfig {
  const merged: Record<string, unknown> = { ...fromFile }
  for (const [key, value] of Object.entries(fromFlags)) {
    const emptyList = Array.isArray(value) && value.length === 0
    if (value !== undefined && !emptyList) merged[key] = value
  }
  // a misspelt setting would otherwise surface as the one it was meant to be, "missing"
  const unknown = Object.keys(merged).filter(key => !(key in daemonConfigSchema.shape))
  if (unknown.length > 0) {
    throw new ConfigError(`${where}: unknown setting ${unknown.map(k => `"${k}"`).join(', ')}`)
  }
  const missing = REQUIRED_SETTINGS.filter(([key]) => merged[key] === undefined)
  if (missing.length > 0) {
    throw new ConfigError(
      `${where}: missing ${missing.map(([, flag]) => flag).join(', ')} (a flag or a setting in the config file)`,
    )
  }
  const parsed = daemonConfigSchema.safeParse(merged)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ConfigError(
      `${where}: ${issue?.path.join('.') || 'settings'}: ${issue?.message ?? 'invalid'}`,
    )
  }
  return parsed.data
}
