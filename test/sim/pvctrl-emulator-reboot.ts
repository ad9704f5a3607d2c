// Whether LOCAL_RUN of a state reboots the device or only restarts containers.
//
// Pantavisor compares the new state with the running one: anything changed in
// the BSP (`bsp/…`), any top-level key (`device.json`…) or any container whose
// run.json says `restart_policy: system` means a reboot (and so a DONE
// ending); otherwise only the changed containers restart (UPDATED).

/** The verdict, with the key that decided it (for tests and logs). */
export interface RebootDecision {
  reboot: boolean
  /** why: the first key that forced a reboot, or what restarts instead */
  reason: string
  /** containers restarted in place (empty when the device reboots) */
  restarted: string[]
}

type State = Record<string, unknown>

function parseState(bytes: Uint8Array | undefined): State | undefined {
  if (bytes === undefined) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'))
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    return value as State
  } catch {
    return undefined
  }
}

/** Keys that describe a revision rather than make it up. */
function isIgnored(key: string): boolean {
  // src.json/build.json are pvr's tool metadata: Pantavisor never reads them
  return key === '#spec' || /^[^/]+\/(src|build)\.json$/.test(key)
}

/**
 * What a key belongs to: 'bsp', 'top' (no folder), a container name, or
 * undefined for signatures.
 */
function ownerOf(key: string): string | undefined {
  const parts = key.split('/')
  if (parts.length === 1) return 'top'
  if (parts[0] === 'bsp') return 'bsp'
  // _config/<container>/… is that container's configuration overlay
  if (parts[0] === '_config') return parts[1]
  // a signature changes only together with what it covers, which decides on its own.
  // Shortcoming: a re-signed state with no other change restarts nothing here.
  if (parts[0] === '_sigs') return undefined
  return parts[0]
}

function restartPolicy(state: State, container: string): unknown {
  const run = state[`${container}/run.json`]
  if (typeof run !== 'object' || run === null || Array.isArray(run)) return undefined
  return (run as Record<string, unknown>)['restart_policy']
}

/**
 * Decides how `next` would be run on a device running `running` (the state
 * bytes of the running revision; undefined or empty when nothing runs yet).
 */
export function rebootDecision(running: Uint8Array | undefined, next: Uint8Array): RebootDecision {
  const before = parseState(running)
  const after = parseState(next) ?? {}
  const meaningful = (state: State): string[] => Object.keys(state).filter(k => !isIgnored(k))
  if (before === undefined || meaningful(before).length === 0) {
    return { reboot: true, reason: 'nothing runs yet: first install', restarted: [] }
  }

  const keys = new Set([...meaningful(before), ...meaningful(after)])
  const restarted = new Set<string>()
  for (const key of [...keys].sort()) {
    // canonical states keep key order, so equal values stringify alike
    if (JSON.stringify(before[key]) === JSON.stringify(after[key])) continue
    const owner = ownerOf(key)
    if (owner === undefined) continue
    if (owner === 'bsp') return { reboot: true, reason: `${key} changed (BSP)`, restarted: [] }
    if (owner === 'top')
      return { reboot: true, reason: `${key} changed (top level)`, restarted: [] }
    const system = [before, after].some(s => restartPolicy(s, owner) === 'system')
    if (system) {
      return {
        reboot: true,
        reason: `${key} changed (container ${owner} has restart_policy system)`,
        restarted: [],
      }
    }
    restarted.add(owner)
  }
  const names = [...restarted].sort()
  return {
    reboot: false,
    reason: names.length === 0 ? 'nothing changed' : `restarting ${names.join(', ')}`,
    restarted: names,
  }
}
