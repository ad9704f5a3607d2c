import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { FleetKeyError } from './errors.js'

/**
 * The fleet key is a libp2p private-network pre-shared key in the `swarm.key`
 * text form every libp2p implementation reads:
 *
 *     /key/swarm/psk/1.0.0/
 *     /base16/
 *     <64 hex digits>
 */
const HEADER = '/key/swarm/psk/1.0.0/'
const ENCODING = '/base16/'
const PSK_BYTES = 32
const HEX_KEY = /^[0-9a-fA-F]{64}$/

/** A new random fleet key in `swarm.key` form, ready to be written to a file. */
export function generateFleetKey(): Uint8Array {
  const text = `${HEADER}\n${ENCODING}\n${randomBytes(PSK_BYTES).toString('hex')}\n`
  return new TextEncoder().encode(text)
}

/**
 * Reads and checks a `swarm.key` file.
 *
 * @returns the file's key in canonical `swarm.key` form (what `fleetKey` expects)
 * @throws FleetKeyError when the file is missing or not a v1 base16 pre-shared key
 */
export async function readFleetKey(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new FleetKeyError(`fleet key ${path} cannot be read: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const secret = fleetKeySecret(bytes, path)
  return new TextEncoder().encode(
    `${HEADER}\n${ENCODING}\n${Buffer.from(secret).toString('hex')}\n`,
  )
}

/**
 * The 32 secret bytes of a fleet key in `swarm.key` form.
 *
 * @param source - names the key in error messages (a path, or "fleetKey option")
 * @throws FleetKeyError naming the line that is wrong
 */
export function fleetKeySecret(fleetKey: Uint8Array, source = 'fleetKey option'): Uint8Array {
  const lines = new TextDecoder('utf-8', { fatal: false })
    .decode(fleetKey)
    .split(/\r?\n/)
    .map(line => line.trim())
  while (lines.length > 0 && lines[lines.length - 1] === '') {
    lines.pop()
  }

  const [header, encoding, key] = lines
  if (header !== HEADER) {
    throw new FleetKeyError(
      `fleet key ${source}: expected first line "${HEADER}", found ${quote(header)}`,
    )
  }
  if (encoding !== ENCODING) {
    throw new FleetKeyError(
      `fleet key ${source}: expected second line "${ENCODING}", found ${quote(encoding)}`,
    )
  }
  if (key == null || !HEX_KEY.test(key)) {
    throw new FleetKeyError(
      `fleet key ${source}: expected 64 hex digits on the third line, found ` +
        (key == null ? 'nothing' : `${key.length} characters`),
    )
  }
  if (lines.length > 3) {
    throw new FleetKeyError(`fleet key ${source}: expected 3 lines, found ${lines.length}`)
  }
  return Uint8Array.from(Buffer.from(key, 'hex'))
}

function quote(line: string | undefined): string {
  if (line == null) {
    return 'nothing'
  }
  return JSON.stringify(line.length > 40 ? `${line.slice(0, 40)}…` : line)
}
