/**
 * Talking to Pantavisor through its control socket, pv-ctrl: HTTP/1.1 over a
 * unix socket, only from a container with the mgmt role.
 *
 * Handing over a revision is: `putObject` for every object, `findMissingObjects`
 * to be sure they all arrived whole, `putStep` for the state,
 * `runCommand('LOCAL_RUN', name)`, then follow `getProgress` to a final
 * status and read `runningRevision`. Keep these steps together and never call
 * `storageGc` between them: GC deletes objects that no revision that has run
 * links to.
 *
 * @example
 * const pv = new PvCtrlClient()
 * await pv.putObject(sha, size, createReadStream(path))
 * if ((await pv.findMissingObjects([{ sha256: sha, size }])).length > 0) throw …
 * await pv.putStep('locals/release-7', stateBytes)
 * await pv.runCommand('LOCAL_RUN', 'locals/release-7')
 * const outcome = await pv.waitForTrialOutcome('locals/release-7')
 */
export { PvCtrlClient } from './client.js'
export type { PvCtrlClientOptions, PvCtrlCallOptions } from './client.js'
export type { WaitForTrialOptions } from './trial-wait.js'
export type { PvCtrlObject, PvCtrlStep } from './answers.js'
export type { PvCtrlClock } from './clock.js'
export { systemClock } from './clock.js'
export { DEFAULT_PVCTRL_SOCKET_PATHS, findPvCtrlSocket } from './socket.js'
export {
  isValidLocalName,
  isValidRevisionName,
  LOCAL_NAME_MAX_CHARS,
  LOCAL_REVISION_PREFIX,
} from './names.js'
export { FINAL_STATUSES, SUCCESS_STATUSES, parseTrialProgress } from './progress.js'
export type { TrialProgress } from './progress.js'
export {
  PvCtrlBadChecksumError,
  PvCtrlBadRequestError,
  PvCtrlBadStateError,
  PvCtrlBusyError,
  PvCtrlError,
  PvCtrlForbiddenError,
  PvCtrlNoSpaceError,
  PvCtrlNotFoundError,
  PvCtrlProtocolError,
  PvCtrlServerError,
  PvCtrlTimeoutError,
  PvCtrlUnavailableError,
} from './errors.js'
export type { PvCtrlErrorDetails } from './errors.js'

// The hand-over of a complete release: upload, store the step, run, follow the
// trial; persisted in the store's device state (rooms.handover) so a restart
// or the trial's own reboot loses nothing and repeats nothing.
export { Handover } from './handover.js'
export type { HandoverEvents, HandoverInit } from './handover.js'
export type { HandoverLogger, HandoverPoint } from './handover-run.js'
export { HANDOVER_ROOM } from './handover-record.js'
export type {
  HandoverOutcome,
  HandoverPhase,
  HandoverRecord,
  RunCommand,
} from './handover-record.js'
export {
  HandoverBusyError,
  HandoverDisabledError,
  HandoverIncompleteError,
  HandoverNoSpaceError,
  HandoverObjectRejectedError,
  HandoverRecordError,
  HandoverRefusedError,
  HandoverStepLostError,
  HandoverStoppedError,
} from './handover-errors.js'
export { localRevisionName } from './local-name.js'
export { waitForHandoverWindow, type WindowWaitOptions } from './schedule.js'

// Serving objects Pantavisor holds ("no second copy"): chunks read through
// pv-ctrl, verified against the release's chunk hashes before anyone sees them.
export {
  DEFAULT_CHUNK_CACHE_BYTES,
  DEFAULT_CHUNK_READ_TIMEOUT_MS,
  DEFAULT_OBJECT_STREAMS,
  PvObjectChunks,
} from './object-chunks.js'
export type {
  ChunkedObject,
  ObjectChunksLogger,
  PvObjectChunksOptions,
  PvObjectChunksStats,
  PvObjectSource,
} from './object-chunks.js'
export { PvCtrlObjectCorruptError } from './errors.js'
