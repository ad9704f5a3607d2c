/**
 * What tests and scripts need that a device would have around it: a pv-ctrl
 * emulator, revisions generated on the spot, and the fleet simulator.
 *
 * The simulator runs N whole devices (`startDevice` from a daemon config,
 * each with its own data directory, identity and pv-ctrl emulator), device 0
 * the seed, in one of two modes:
 * - `inprocess` (default): one process on 127.0.0.1, devices told of each
 *   other as static peers; fast, what the tests use;
 * - `netns`: one process per device, each in its own network namespace on a
 *   bridge, every link shaped with tbf at both ends, peers found by mDNS
 *   (root only).
 * Namespaces, processes and folders are torn down on close, on failure and on
 * SIGINT/SIGTERM.
 *
 * @example
 * const fleet = await Fleet.start({ devices: 8 })
 * try {
 *   const first = await fleet.publish(revisionFixture('rev1'))
 *   const second = await fleet.publish(revisionFixture('rev2'))
 *   assert.ok(first.allDone && second.allDone)
 * } finally {
 *   await fleet.close()
 * }
 */
export { Fleet } from './fleet.js'
export { runFleet, type FleetRunResult } from './fleet-run.js'
export { DEFAULT_LINK_MBIT } from './fleet-types.js'
export type {
  CpuUse,
  DeviceResult,
  FleetEvents,
  FleetInit,
  FleetMode,
  PublishOptions,
  SequenceResult,
} from './fleet-types.js'
export type { DeviceSequenceState, DevicePhase, TrialOutcome } from './sequence-tracker.js'
export type {
  SimDeviceEvents,
  SimDeviceHandle,
  SimDeviceSpec,
  SimDeviceStats,
  SimDownloadResult,
} from './sim-device.js'
export { SimDevice } from './sim-device.js'
export { ProgressView, type ProgressViewOptions } from './progress.js'
export { formatBytes, formatCpu, formatSummary, jsonLine, type SimJsonLine } from './summary.js'
export { makeSimRelease, type SimRelease, type SimReleaseInit } from './releases.js'
export {
  checkNetnsSupport,
  listNamespaces,
  NetnsCommandError,
  NetnsFloor,
  NetnsUnavailableError,
  sweepStaleNamespaces,
  type LinkCounters,
  type NetnsFloorInit,
  type NetnsHost,
} from './netns.js'
export { DeviceProcessError } from './fleet-netns.js'
export {
  ChildCpuTracker,
  machineBusyFraction,
  ownCpuSeconds,
  processCpuSeconds,
  sampleMachineCpu,
} from './cpu.js'
export { onTeardown, pendingTeardowns, type TeardownEntry } from './teardown.js'
export {
  PvCtrlEmulator,
  startPvCtrlEmulator,
  type PvCtrlEmulatorOptions,
  type TrialDelays,
  type TrialScript,
} from './pvctrl-emulator.js'
export {
  generateRevision,
  type GeneratedRevision,
  type GeneratedRevisionInit,
} from './revision-generator.js'
