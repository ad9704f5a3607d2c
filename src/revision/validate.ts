import { isSha256Hex } from '../util/hex.js'
import { SIGNATURE_SPEC, STATE_SPEC } from './constants.js'
import {
  DanglingReferenceError,
  InvalidKeyError,
  InvalidRunManifestError,
  InvalidSignatureEntryError,
  InvalidValueError,
  StateSpecError,
} from './errors.js'

const SPEC_KEY = '#spec'
const BSP_RUN = 'bsp/run.json'
// C0, DEL and C1 controls: never part of a file name a device should create
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const HEX64_ANY_CASE = /^[0-9a-fA-F]{64}$/

type State = Readonly<Record<string, unknown>>

/**
 * Checks a parsed state against the rules Pantavisor applies before running
 * it. Throws the first violation found, as a subclass of InvalidStateError
 * naming the key. `keys` is the document order (used only so that the first
 * bad key in the document is the one reported).
 */
export function validateState(state: State, keys: readonly string[]): void {
  if (state[SPEC_KEY] !== STATE_SPEC) throw new StateSpecError(state[SPEC_KEY])

  for (const key of keys) {
    if (key === SPEC_KEY) continue
    checkKeyPath(key)
    checkValue(key, state[key])
  }

  checkBspRun(state)
  for (const key of keys) {
    const container = containerOfRunManifest(key)
    if (container !== undefined) checkContainerRun(state, key, container)
    if (key.startsWith('_sigs/')) checkSignatureEntry(key, state[key])
  }
}

function checkKeyPath(key: string): void {
  if (key.length === 0) throw new InvalidKeyError(key, 'is empty')
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'starts with "/"')
  if (key.includes('\\')) throw new InvalidKeyError(key, 'contains a backslash')
  if (CONTROL.test(key)) throw new InvalidKeyError(key, 'contains a control character')
  for (const segment of key.split('/')) {
    if (segment === '') throw new InvalidKeyError(key, 'has an empty segment')
    if (segment === '..') throw new InvalidKeyError(key, 'has a ".." segment')
    if (segment === '.') throw new InvalidKeyError(key, 'has a "." segment')
  }
}

function checkValue(key: string, value: unknown): void {
  const isJsonKey = key.endsWith('.json')
  const expected = isJsonKey
    ? 'a lowercase 64-hex sha256 or inline JSON (object or array)'
    : 'a lowercase 64-hex sha256 (only keys ending ".json" may hold inline JSON)'
  if (isSha256Hex(value)) return
  if (typeof value === 'string') {
    const found = HEX64_ANY_CASE.test(value)
      ? `a sha256 with uppercase hex digits ${JSON.stringify(value)}`
      : `the string ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}`
    throw new InvalidValueError(key, expected, found)
  }
  if (typeof value === 'object' && value !== null) {
    if (isJsonKey) return
    throw new InvalidValueError(key, expected, Array.isArray(value) ? 'an array' : 'an object')
  }
  throw new InvalidValueError(key, expected, value === null ? 'null' : `a ${typeof value}`)
}

/** Names of the bsp/run.json members that name a file under `bsp/`. */
const BSP_FILE_MEMBERS = ['linux', 'initrd', 'fdt', 'fit', 'rpiab', 'firmware', 'initrd_config']

function checkBspRun(state: State): void {
  // a state without bsp/run.json (an app-only part, like the nginx example) has nothing to check
  if (!Object.hasOwn(state, BSP_RUN)) return
  const run = state[BSP_RUN]
  // a run.json stored as an object (a sha) cannot be inspected without its bytes
  if (typeof run === 'string') return
  if (!isPlainObject(run)) {
    throw new InvalidRunManifestError(BSP_RUN, 'expected an object, found an array')
  }

  const named = (member: string): string | undefined => {
    const value = run[member]
    if (value === undefined) return undefined
    if (typeof value !== 'string') {
      throw new InvalidRunManifestError(
        BSP_RUN,
        `member ${member}: expected a file name string, found ${describe(value)}`,
      )
    }
    // an empty name (as in initrd_config: "") means "not used"
    return value === '' ? undefined : value
  }

  const hasKernel = named('linux') !== undefined && named('initrd') !== undefined
  if (!hasKernel && named('fit') === undefined && named('rpiab') === undefined) {
    throw new InvalidRunManifestError(
      BSP_RUN,
      'expected "linux" and "initrd", or "fit", or "rpiab" naming the boot image, found none',
    )
  }

  const members = [...BSP_FILE_MEMBERS, ...Object.keys(run).filter(m => m.startsWith('modules'))]
  for (const member of new Set(members)) {
    const name = named(member)
    if (name !== undefined) requireKey(state, BSP_RUN, member, `bsp/${name}`)
  }

  const addons = run['addons']
  if (addons === undefined) return
  if (!Array.isArray(addons)) {
    throw new InvalidRunManifestError(
      BSP_RUN,
      `member addons: expected an array, found ${describe(addons)}`,
    )
  }
  addons.forEach((addon: unknown, index) => {
    if (typeof addon !== 'string' || addon === '') {
      throw new InvalidRunManifestError(
        BSP_RUN,
        `member addons[${index}]: expected a file name, found ${describe(addon)}`,
      )
    }
    requireKey(state, BSP_RUN, `addons[${index}]`, `bsp/${addon}`)
  })
}

/** `web/run.json` → `web`; undefined for bsp, `_config/…`, `_sigs/…` and deeper paths. */
function containerOfRunManifest(key: string): string | undefined {
  const match = /^([^/]+)\/run\.json$/.exec(key)
  const container = match?.[1]
  if (container === undefined || container === 'bsp' || container.startsWith('_')) return undefined
  return container
}

function checkContainerRun(state: State, key: string, container: string): void {
  const run = state[key]
  if (typeof run === 'string') return
  if (!isPlainObject(run))
    throw new InvalidRunManifestError(key, 'expected an object, found an array')

  for (const member of ['config', 'root-volume']) {
    const value = run[member]
    if (value === undefined) continue
    if (typeof value !== 'string' || value === '') {
      throw new InvalidRunManifestError(
        key,
        `member ${member}: expected a file name, found ${describe(value)}`,
      )
    }
    // "dm:" marks a dm-verity volume; the file itself is the name after the prefix
    const file = member === 'root-volume' && value.startsWith('dm:') ? value.slice(3) : value
    requireKey(state, key, member, `${container}/${file}`)
  }
}

function checkSignatureEntry(key: string, value: unknown): void {
  if (!isPlainObject(value)) {
    throw new InvalidSignatureEntryError(
      key,
      `expected an inline pvs@2 object, found ${describe(value)}`,
    )
  }
  if (value['#spec'] !== SIGNATURE_SPEC) {
    throw new InvalidSignatureEntryError(
      key,
      `member #spec: expected "${SIGNATURE_SPEC}", found ${describe(value['#spec'])}`,
    )
  }
  for (const member of ['protected', 'signature']) {
    const part = value[member]
    if (typeof part !== 'string' || !/^[A-Za-z0-9_-]+$/.test(part)) {
      throw new InvalidSignatureEntryError(
        key,
        `member ${member}: expected a base64url string, found ${describe(part)}`,
      )
    }
  }
}

function requireKey(state: State, key: string, member: string, target: string): void {
  if (!Object.hasOwn(state, target)) throw new DanglingReferenceError(key, member, target)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  return `a ${typeof value}`
}
