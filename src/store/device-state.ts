import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { InvalidDeviceStateError, StateFileError } from './errors.js'
import { isNotFound, writeFileAtomic } from './fs-util.js'
import type { Layout } from './layout.js'
import { Serial } from './serial.js'
import type { DeviceState } from './index.js'

const count = z.number().int().nonnegative()
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters')

// Loose objects: a field written by a newer pvswarm survives an update by this one.
const fleetSchema = z.looseObject({
  highestSequence: count,
  newestIssuedAtMs: z.number().nonnegative(),
  installedReleaseId: hex64.optional(),
  installedSequence: count.optional(),
})

const failedSchema = z.looseObject({
  fleet: z.string(),
  sequence: count,
  reason: z.string(),
  atMs: z.number().nonnegative(),
  revisionSha256: hex64.optional(),
})

const stateSchema = z.looseObject({
  version: z.literal(1),
  fleets: z.record(z.string(), fleetSchema),
  failedReleases: z.record(hex64, failedSchema),
  rooms: z.record(z.string(), z.unknown()),
})

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map(issue => `${issue.path.length > 0 ? issue.path.join('.') : '(top)'}: ${issue.message}`)
    .join('; ')
}

export function emptyDeviceState(): DeviceState {
  return { version: 1, fleets: {}, failedReleases: {}, rooms: {} }
}

/**
 * device-state.json: read whole, changed through a queue so concurrent updates each see the one
 * before, and replaced atomically so a crash leaves the old or the new document, never a torn one.
 * A file that is there but unusable is reported, never replaced by an empty state: that would
 * forget anti-rollback floors and failed releases.
 */
export class DeviceStateFile {
  readonly #serial = new Serial()

  constructor(private readonly layout: Layout) {}

  async read(): Promise<DeviceState> {
    await this.#serial.idle()
    return this.#load()
  }

  update(mutate: (state: DeviceState) => void | Promise<void>): Promise<DeviceState> {
    return this.#serial.run(async () => {
      const draft = await this.#load()
      await mutate(draft)
      const checked = stateSchema.safeParse(draft)
      if (!checked.success) throw new InvalidDeviceStateError(describe(checked.error))
      await writeFileAtomic(
        this.layout.tempFile('device-state'),
        this.layout.deviceState,
        `${JSON.stringify(draft, null, 2)}\n`,
      )
      return structuredClone(draft)
    })
  }

  async #load(): Promise<DeviceState> {
    const file = this.layout.deviceState
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if (isNotFound(err)) return emptyDeviceState()
      throw new StateFileError(file, `cannot be read (${String(err)})`, { cause: err })
    }

    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      throw new StateFileError(file, `is not valid JSON (${detail}; ${text.length} bytes)`, {
        cause: err,
      })
    }
    const checked = stateSchema.safeParse(parsed)
    if (!checked.success) {
      throw new StateFileError(file, `does not have the expected shape: ${describe(checked.error)}`)
    }
    return checked.data as DeviceState
  }
}
