/**
 * Every decision pvswarm makes, as pure functions that return a verdict and a
 * reason. The caller gathers the facts (store, clock, configuration); nothing
 * here does I/O, so each rule is tested on its own.
 */
export { accept, refuse, type RefusalCode, type ReleaseDecision } from './decision.js'
export {
  decideRelease,
  type ClockView,
  type FleetHistory,
  type ReleasePolicyInput,
  type SpaceView,
} from './release-policy.js'
export {
  handoverAllowed,
  checkHandoverSchedule,
  type HandoverSchedule,
  type HandoverTiming,
} from './handover-schedule.js'
export {
  objectsToDrop,
  type DropCopiesDecision,
  type DropCopiesInput,
  type DropObjectRef,
} from './drop-copies.js'
export {
  releasesToRetire,
  type RetentionDecision,
  type RetentionPhase,
  type RetentionRelease,
} from './retention.js'
