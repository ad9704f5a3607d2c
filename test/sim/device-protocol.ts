import { z } from 'zod'
import type { SimDeviceEvents, SimDeviceStats } from './sim-device.js'

/**
 * The JSON lines between the simulator and a device process. Reports go out
 * on the device's stdout, each with a `sim` field naming it; commands come in
 * on its stdin, each with an `id` its reply repeats.
 */

type Payload<K extends keyof SimDeviceEvents> = SimDeviceEvents[K][0]

export type DeviceReport =
  | { sim: 'ready'; peerId: string; addresses: string[] }
  | ({ sim: 'accepted' } & Payload<'accepted'>)
  | ({ sim: 'progress' } & Payload<'progress'>)
  | ({ sim: 'complete' } & Payload<'complete'>)
  | ({ sim: 'trial' } & Payload<'trial'>)
  | ({ sim: 'failed' } & Payload<'failed'>)
  | {
      sim: 'reply'
      id: number
      error?: string
      releaseId?: string
      stats?: SimDeviceStats
      cpuSeconds?: number
    }
  /** the device cannot go on, or a command could not be read */
  | { sim: 'fatal'; message: string }

const commandSchema = z.discriminatedUnion('cmd', [
  z.object({
    cmd: z.literal('seed'),
    id: z.number().int(),
    /** encodeRelease bytes, base64 */
    release: z.string().min(1),
    revisionPath: z.string().min(1),
  }),
  z.object({ cmd: z.literal('stats'), id: z.number().int() }),
  z.object({ cmd: z.literal('stop'), id: z.number().int() }),
])

export type DeviceCommand = z.infer<typeof commandSchema>

/** A command line, or undefined when it is not one. */
export function parseCommand(line: string): DeviceCommand | undefined {
  try {
    const parsed = commandSchema.safeParse(JSON.parse(line))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

const reportKinds = new Set([
  'ready',
  'accepted',
  'progress',
  'complete',
  'trial',
  'failed',
  'reply',
  'fatal',
])

/**
 * A report line, or undefined for anything else the process printed. The
 * device process is this project's own code: its reports are trusted to have
 * the fields their kind names once the kind is known.
 */
export function parseReport(line: string): DeviceReport | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const value = JSON.parse(line) as { sim?: unknown }
    return typeof value.sim === 'string' && reportKinds.has(value.sim)
      ? (value as DeviceReport)
      : undefined
  } catch {
    return undefined
  }
}
