import type { ReleaseBook, ReleaseContent, ReleaseSummary } from '../exchange/index.js'
import type { FleetHistory } from '../policy/index.js'
import { encodeRelease, parseRelease, releaseId, type Release } from '../release/index.js'
import type { DeviceState, Store } from '../store/index.js'

/** Where a device is with one accepted release. */
export type ReleasePhase = 'downloading' | 'complete' | 'installed' | 'failed'

/** What the device remembers of each release it accepted (persisted in the device state). */
export interface AcceptedRecord {
  fleet: string
  sequence: number
  revision: string
  acceptedAtMs: number
  phase: ReleasePhase
  /** true when this device got the release from `pvswarm seed`, not from a peer */
  seeded: boolean
}

const ROOM = 'releases'

interface ReleasesRoom {
  accepted: Record<string, AcceptedRecord>
}

function roomOf(state: DeviceState): ReleasesRoom {
  const room = state.rooms[ROOM] as ReleasesRoom | undefined
  if (room !== undefined) return room
  const created: ReleasesRoom = { accepted: {} }
  state.rooms[ROOM] = created
  return created
}

/**
 * The releases this device accepted: their records in the device state, their
 * bytes in the store, parsed copies in memory. It is the exchange's release
 * book (what is announced and what may be served) and the policy's memory
 * (highest sequence per fleet, failures).
 */
export class AcceptedReleases implements ReleaseBook {
  readonly #store: Store
  readonly #parsed = new Map<string, Release>()
  #records: Record<string, AcceptedRecord> = {}

  constructor(store: Store) {
    this.#store = store
  }

  get store(): Store {
    return this.#store
  }

  /** Loads the records and the accepted releases' documents. */
  async load(): Promise<void> {
    const state = await this.#store.readDeviceState()
    this.#records = { ...roomOf(state).accepted }
    for (const id of Object.keys(this.#records)) {
      const bytes = await this.#store.getRelease(id)
      if (bytes === undefined) {
        // the document went away (removed by hand?): forget the record rather than serve nothing
        delete this.#records[id]
        continue
      }
      this.#parsed.set(id, parseRelease(bytes))
    }
  }

  has(id: string): boolean {
    return this.#records[id] !== undefined
  }

  get(id: string): Release | undefined {
    return this.#parsed.get(id)
  }

  record(id: string): AcceptedRecord | undefined {
    return this.#records[id]
  }

  records(): Array<[string, AcceptedRecord]> {
    return Object.entries(this.#records)
  }

  /** The accepted release of `fleet` with the highest sequence. */
  newestOf(fleet: string): { id: string; record: AcceptedRecord } | undefined {
    let newest: { id: string; record: AcceptedRecord } | undefined
    for (const [id, record] of Object.entries(this.#records)) {
      if (record.fleet !== fleet) continue
      if (newest === undefined || record.sequence > newest.record.sequence) newest = { id, record }
    }
    return newest
  }

  /** What policy needs to know of this device's past in `fleet`. */
  history(fleet: string, state: DeviceState): FleetHistory {
    const fleetState = state.fleets[fleet]
    const newest = this.newestOf(fleet)
    const failedRevisionIds = new Set<string>()
    for (const [id, record] of Object.entries(this.#records)) {
      if (record.phase === 'failed' || state.failedReleases[id] !== undefined) {
        failedRevisionIds.add(record.revision)
      }
    }
    for (const failed of Object.values(state.failedReleases)) {
      if (failed.revisionSha256 !== undefined) failedRevisionIds.add(failed.revisionSha256)
    }
    return {
      highestSequence: fleetState?.highestSequence,
      highestReleaseId:
        newest?.record.sequence === fleetState?.highestSequence ? newest?.id : undefined,
      newestIssuedAtMs: fleetState?.newestIssuedAtMs,
      failedReleaseIds: new Set(Object.keys(state.failedReleases)),
      failedRevisionIds,
    }
  }

  /** Keeps an accepted release: its document first, then the record that makes it count. */
  async accept(release: Release, seeded: boolean): Promise<string> {
    const id = releaseId(release)
    await this.#store.putRelease(id, encodeRelease(release))
    const record: AcceptedRecord = {
      fleet: release.fleet,
      sequence: release.sequence,
      revision: release.revision.sha256,
      acceptedAtMs: Date.now(),
      phase: 'downloading',
      seeded,
    }
    await this.#store.updateDeviceState(state => {
      roomOf(state).accepted[id] = record
      const fleet = state.fleets[release.fleet]
      const issuedMs = Date.parse(release.issuedAt)
      state.fleets[release.fleet] = {
        ...fleet,
        highestSequence: Math.max(fleet?.highestSequence ?? 0, release.sequence),
        newestIssuedAtMs: Math.max(fleet?.newestIssuedAtMs ?? 0, issuedMs),
      }
    })
    this.#records[id] = record
    this.#parsed.set(id, release)
    return id
  }

  /** Moves a release to another phase (persisted). */
  async setPhase(id: string, phase: ReleasePhase): Promise<void> {
    const record = this.#records[id]
    if (record === undefined || record.phase === phase) return
    await this.#store.updateDeviceState(state => {
      const stored = roomOf(state).accepted[id]
      if (stored !== undefined) stored.phase = phase
    })
    this.#records[id] = { ...record, phase }
  }

  /** The device state as saved now (other rooms, like the hand-over, update it too). */
  deviceState(): Promise<DeviceState> {
    return this.#store.readDeviceState()
  }

  // ReleaseBook, for the exchange

  async newest(): Promise<readonly ReleaseSummary[]> {
    const fleets = new Set(Object.values(this.#records).map(record => record.fleet))
    const summaries: ReleaseSummary[] = []
    for (const fleet of fleets) {
      const newest = this.newestOf(fleet)
      if (newest !== undefined) {
        summaries.push({ fleet, sequence: newest.record.sequence, releaseId: newest.id })
      }
    }
    return summaries
  }

  async releaseBytes(id: string): Promise<Uint8Array | undefined> {
    if (!this.has(id)) return undefined
    return this.#store.getRelease(id)
  }

  async servable(id: string): Promise<ReleaseContent | undefined> {
    return this.has(id) ? this.#parsed.get(id) : undefined
  }
}
