import type { DeviceSequenceState } from './sequence-tracker.js'
import type { TrialDelays, TrialScript } from './pvctrl-emulator.js'

/**
 * Link rate of a netns floor when none is given. Measured on the 2-core
 * build machine (rev1 fixture, 4 and 8 devices): a device spends about 0.1
 * CPU-second per MiB it receives, everything included (noise, verification,
 * store, the hand-over to its emulated Pantavisor), and 8 idle devices in a
 * full mesh keep about 0.3 cores busy. 8 devices at 10 Mbit/s then need
 * about 1.2 cores: the links, not the CPU, set the pace. Scale it down for
 * larger floors (16 devices: about 5).
 */
export const DEFAULT_LINK_MBIT = 10

export type FleetMode = 'inprocess' | 'netns'

/** How a floor is built. */
export interface FleetInit {
  /** devices on the floor, the seed included. @default 8 */
  devices?: number
  /** one process on loopback, or one process per namespace on shaped links. @default 'inprocess' */
  mode?: FleetMode
  /** netns: each device link's rate in Mbit/s, both ways; 0 = unshaped. @default DEFAULT_LINK_MBIT */
  linkMbit?: number
  /** netns: find peers by mDNS, or tell each device of those started before it. @default 'mdns' */
  discovery?: 'mdns' | 'static'
  /** @default 'sim' */
  fleet?: string
  /** chunk size of the releases. @default 1 MiB */
  chunkBytes?: number
  /** only the seed serves (the central baseline: one laptop pushing to every device). @default false */
  serveOnlyAsSeed?: boolean
  /** DHT provider records; on one segment every device sees every other anyway. @default false */
  dht?: boolean
  /** folder for the devices. @default a new temporary folder, removed on close */
  workDir?: string
  /** every device's log, pino JSON lines with a `device` field. @default no logs */
  logFile?: string
  /** scripted trial endings: device index → release sequence → script. @default all succeed */
  trials?: Record<number, Record<number, TrialScript>>
  /** pauses of the emulated update flow. @default the emulator's (tens of milliseconds) */
  trialDelays?: TrialDelays
  /** how long the devices may take to see each other before the first release. @default 30000 */
  meshTimeoutMs?: number
  /**
   * How long one release may take to settle everywhere.
   * @default time for every device to fetch it from the seed alone, twice over, plus 60 s
   */
  sequenceTimeoutMs?: number
}

/** One device's result in one sequence. */
export interface DeviceResult extends DeviceSequenceState {
  /** payload bytes this device received from the seed and from other devices */
  bytesFromSeed: number
  bytesFromPeers: number
  /** bytes this device served to others during the sequence */
  bytesServed: number
}

/** One release spread over the floor. */
export interface SequenceResult {
  sequence: number
  releaseId: string
  revisionPath: string
  /** bytes of all objects of the revision */
  revisionBytes: number
  /** the seed importing the revision, before the floor could start */
  seedImportSeconds: number
  /** from the release being on the floor to the last device settling (or the timeout) */
  seconds: number
  /** every device ended DONE or UPDATED */
  allDone: boolean
  timedOut: boolean
  devices: DeviceResult[]
  servedBySeedBytes: number
  servedByPeersBytes: number
  duplicateBytes: number
  cpu: CpuUse
}

/** CPU used over a stretch of wall time. */
export interface CpuUse {
  wallSeconds: number
  simulatorSeconds: number
  /** sum over the device processes (netns) */
  deviceSeconds: number | undefined
  /** (simulator + devices) ÷ wall: cores kept busy */
  cores: number
  /** the machine's cores */
  machineCores: number
  /** share of the whole machine that was busy, anyone's processes included */
  machineBusy: number | undefined
}

/** Options of one publish. */
export interface PublishOptions {
  /** @default time for every device to fetch the revision alone over its link, several times over */
  timeoutMs?: number
}

export interface FleetEvents {
  /** a release is about to be seeded */
  sequence: [{ sequence: number; releaseId: string; revisionPath: string; revisionBytes: number }]
  /** a device's state in the current sequence changed */
  change: []
}
