import { stat } from 'node:fs/promises'
import { PvCtrlUnavailableError } from './errors.js'

/**
 * Where pv-ctrl lives, in the order they are tried: inside a container, on the
 * host, in appengine mode.
 */
export const DEFAULT_PVCTRL_SOCKET_PATHS: readonly string[] = [
  '/pantavisor/pv-ctrl',
  '/pv/pv-ctrl',
  '/run/pantavisor/pv/pv-ctrl',
]

/**
 * The first candidate that exists and is a unix socket.
 *
 * @throws PvCtrlUnavailableError naming every path tried when none is
 */
export async function findPvCtrlSocket(
  candidates: readonly string[] = DEFAULT_PVCTRL_SOCKET_PATHS,
): Promise<string> {
  const found: string[] = []
  for (const path of candidates) {
    try {
      const info = await stat(path)
      if (info.isSocket()) return path
      found.push(`${path} (not a socket)`)
    } catch {
      found.push(`${path} (absent)`)
    }
  }
  throw new PvCtrlUnavailableError(
    `no pv-ctrl socket found; tried ${found.length > 0 ? found.join(', ') : 'no paths'}`,
    candidates,
  )
}
