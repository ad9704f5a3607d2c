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
