import { shortId } from '../util/hex.js'
import { parseObjectList, parseStepList, type PvCtrlObject, type PvCtrlStep } from './answers.js'
import { retryWhileBusy } from './busy.js'
import { systemClock, type PvCtrlClock } from './clock.js'
import { PvCtrlBadRequestError, PvCtrlNotFoundError, PvCtrlProtocolError } from './errors.js'
import { openCall, readBody, type PvCtrlCall, type PvCtrlResponse } from './http.js'
import { errorText, expectJson, expectOk, statusError } from './status.js'
import { assertLocalName, assertObjectId, assertRevisionName } from './names.js'
import { parseTrialProgress, type TrialProgress } from './progress.js'
import { DEFAULT_PVCTRL_SOCKET_PATHS, findPvCtrlSocket } from './socket.js'
import { pollTrialOutcome, type WaitForTrialOptions } from './trial-wait.js'
import { verifiedBody } from './verify.js'

export interface PvCtrlClientOptions {
  /** pv-ctrl's unix socket. @default the first of `socketCandidates` that exists as a socket */
  socketPath?: string
  /** paths probed when `socketPath` is not given. @default DEFAULT_PVCTRL_SOCKET_PATHS */
  socketCandidates?: readonly string[]
  /**
   * Longest silence on the socket before a request fails with PvCtrlTimeoutError.
   * Object uploads get more, in proportion to their size, because Pantavisor
   * hashes the whole object before it answers.
   * @default 30000
   */
  requestTimeoutMs?: number
  /** Total time `runCommand` honours 503 Retry-After before giving up. @default 900000 (15 min) */
  maxBusyWaitMs?: number
  /** Aborts every request and every wait of this client. */
  signal?: AbortSignal
  /** Time source for busy waits and polling. @default the system clock */
  clock?: PvCtrlClock
}

/** Per-call options. */
export interface PvCtrlCallOptions {
  signal?: AbortSignal
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
const DEFAULT_MAX_BUSY_WAIT_MS = 15 * 60_000
// Pantavisor hashes an uploaded object before answering; allow a slow
// device's sha256 (about 10 MiB/s) on top of the idle timeout.
const VERIFY_BYTES_PER_MS = (10 * 1024 * 1024) / 1000
// pv-ctrl's own limits (CTRL_STEPS_COMMIT_MSG_MAX, PV_CTRL_CMD_MAX_SIZE).
const COMMIT_MESSAGE_MAX_BYTES = 256
const COMMAND_MAX_BYTES = 4096

/** Client of Pantavisor's control socket (pv-ctrl). */
export class PvCtrlClient {
  private readonly options: PvCtrlClientOptions
  private readonly clock: PvCtrlClock
  private readonly timeoutMs: number
  private readonly maxBusyWaitMs: number
  private socketPath: string | undefined

  constructor(options: PvCtrlClientOptions = {}) {
    this.options = options
    this.clock = options.clock ?? systemClock
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.maxBusyWaitMs = options.maxBusyWaitMs ?? DEFAULT_MAX_BUSY_WAIT_MS
    this.socketPath = options.socketPath
  }

  /** Every object in the device's storage. */
  async listObjects(options: PvCtrlCallOptions = {}): Promise<PvCtrlObject[]> {
    const call = this.describe('GET', '/objects', this.callSignal(options))
    return parseObjectList(await expectJson(await this.open(call), call), call.path)
  }

  /**
   * Streams an object to the device. The source is pulled only as fast as the
   * socket drains, so memory stays flat whatever the size. Succeeds when it is
   * stored or was already present.
   *
   * @throws PvCtrlBadChecksumError when the bytes do not hash to `sha256`
   * @throws PvCtrlNoSpaceError when the device is full
   * @throws PvCtrlBadRequestError when `sha256` or `size` is malformed or the
   *   source yields a different number of bytes than `size`
   */
  async putObject(sha256: string, size: number, bytes: AsyncIterable<Uint8Array>): Promise<void> {
    assertObjectId(sha256, 'putObject')
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new PvCtrlBadRequestError(
        `putObject ${shortId(sha256)}: size must be a non-negative integer, got ${size}`,
      )
    }
    const call = this.describe('PUT', `/objects/${sha256}`, {
      kind: 'object-upload',
      body: { bytes, size },
      timeoutMs: this.timeoutMs + Math.ceil(size / VERIFY_BYTES_PER_MS),
    })
    await expectOk(await this.open(call), call)
  }

  /**
   * Those of `expected` the device does not hold at exactly the expected
   * size. Check after uploading and before running: Pantavisor's C code can
   * answer 200 to an object upload that ran out of space and keeps the
   * truncated file (ctrl_objects_ep.c), and LOCAL_RUN would then fail its trial.
   */
  async findMissingObjects(expected: Iterable<PvCtrlObject>): Promise<PvCtrlObject[]> {
    const held = new Map((await this.listObjects()).map(o => [o.sha256, o.size]))
    return [...expected].filter(o => held.get(o.sha256) !== o.size)
  }

  /**
   * Streams an object from the device, checking as it goes that the bytes hash
   * to `sha256`: the last iteration throws PvCtrlBadChecksumError otherwise.
   * A consumer that pauses longer than `requestTimeoutMs` between reads loses
   * the connection (PvCtrlTimeoutError): the timeout watches the socket.
   *
   * Aborting `options.signal` drops the connection at once, even mid-body.
   *
   * @throws PvCtrlNotFoundError when the device does not hold it
   */
  async *getObject(sha256: string, options: PvCtrlCallOptions = {}): AsyncIterable<Uint8Array> {
    assertObjectId(sha256, 'getObject')
    const call = this.describe('GET', `/objects/${sha256}`, this.callSignal(options))
    const response = await this.open(call)
    if (response.status !== 200) {
      const pvMessage = errorText(await readBody(response, call))
      // Pantavisor answers 400 "Request has bad object name" for a well-formed
      // name it does not hold (ctrl_objects_send); the name was checked above.
      if (response.status === 400 && pvMessage === 'Request has bad object name') {
        throw new PvCtrlNotFoundError(
          `pv-ctrl holds no object ${sha256} (answered 400: ${pvMessage})`,
          { status: 400, pvMessage },
        )
      }
      throw statusError(response.status, pvMessage, call)
    }
    yield* verifiedBody(response, call, sha256)
  }

  /** Every revision Pantavisor has stored, with its progress as reported. */
  async listSteps(): Promise<PvCtrlStep[]> {
    const call = this.describe('GET', '/steps')
    return parseStepList(await expectJson(await this.open(call), call), call.path)
  }

  /** The state of a revision, byte for byte as stored (`current` is the running one). */
  async getStep(rev: string): Promise<Uint8Array> {
    assertRevisionName(rev, 'getStep')
    const call = this.describe('GET', `/steps/${rev}`)
    return new Uint8Array(await expectOk(await this.open(call), call))
  }

  /**
   * Stores a revision's state as `name` (`locals/<name>`); progress becomes NEW.
   * Pantavisor does not check that the objects exist: upload them first.
   *
   * @throws PvCtrlBadStateError when Pantavisor refuses the state (`Secureboot: …`, `Parser: …`)
   */
  async putStep(name: string, stateBytes: Uint8Array): Promise<void> {
    assertLocalName(name, 'putStep')
    const call = this.describe('PUT', `/steps/${name}`, {
      kind: 'step-upload',
      body: stateBytes,
      contentType: 'application/json',
    })
    await expectOk(await this.open(call), call)
  }

  /** Where a revision is in its trial. */
  async getProgress(rev: string): Promise<TrialProgress> {
    assertRevisionName(rev, 'getProgress')
    const call = this.describe('GET', `/steps/${rev}/progress`)
    const value = await expectJson(await this.open(call), call)
    const progress = parseTrialProgress(value)
    if (progress === undefined) {
      throw new PvCtrlProtocolError(
        `pv-ctrl GET ${call.path}: expected a progress object with a string "status", got ` +
          JSON.stringify(value).slice(0, 200),
      )
    }
    return progress
  }

  /** Attaches a message (at most 256 bytes of UTF-8) to a revision. */
  async putCommitMessage(rev: string, message: string): Promise<void> {
    assertRevisionName(rev, 'putCommitMessage')
    const bytes = Buffer.from(message, 'utf8')
    if (bytes.byteLength === 0 || bytes.byteLength > COMMIT_MESSAGE_MAX_BYTES) {
      throw new PvCtrlBadRequestError(
        `putCommitMessage ${rev}: message must be 1 to ${COMMIT_MESSAGE_MAX_BYTES} bytes, ` +
          `got ${bytes.byteLength}`,
      )
    }
    const call = this.describe('PUT', `/steps/${rev}/commitmsg`, {
      body: bytes,
      contentType: 'text/plain',
    })
    await expectOk(await this.open(call), call)
  }

  /**
   * Queues a command (`LOCAL_RUN` / `LOCAL_RUN_COMMIT` with a revision name as
   * payload). While Pantavisor answers 503 it waits as long as Retry-After
   * asks and tries again, for at most `maxBusyWaitMs` in all. Success means
   * queued, not done: follow the outcome with `getProgress`.
   *
   * @throws PvCtrlBusyError when the waiting ran out or was aborted
   */
  async runCommand(
    op: 'LOCAL_RUN' | 'LOCAL_RUN_COMMIT' | (string & {}),
    payload: string,
    options: PvCtrlCallOptions = {},
  ): Promise<void> {
    const body = Buffer.from(JSON.stringify({ op, payload }), 'utf8')
    if (body.byteLength > COMMAND_MAX_BYTES) {
      throw new PvCtrlBadRequestError(
        `runCommand ${op}: command is ${body.byteLength} bytes, pv-ctrl takes at most ${COMMAND_MAX_BYTES}`,
      )
    }
    const signal = this.signal(options.signal)
    const send = async (): Promise<{ response: PvCtrlResponse; call: PvCtrlCall }> => {
      const call = this.describe('POST', '/commands', { body, contentType: 'application/json' })
      if (signal !== undefined) call.signal = signal
      return { response: await this.open(call), call }
    }
    await retryWhileBusy(send, {
      clock: this.clock,
      maxBusyWaitMs: this.maxBusyWaitMs,
      what: `${op} ${payload}`,
      ...(signal === undefined ? {} : { signal }),
    })
  }

  /** Pantavisor's device metadata. */
  async deviceMeta(): Promise<Record<string, unknown>> {
    const call = this.describe('GET', '/device-meta')
    const value = await expectJson(await this.open(call), call)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new PvCtrlProtocolError(`pv-ctrl GET /device-meta: expected a JSON object`)
    }
    return value as Record<string, unknown>
  }

  /** The revision the device runs now (`pantavisor.revision`), if reported. */
  async runningRevision(): Promise<string | undefined> {
    const value = (await this.deviceMeta())['pantavisor.revision']
    // Pantavisor writes values that parse as JSON unquoted, so revision 0 arrives as a number.
    if (typeof value === 'string') return value
    if (typeof value === 'number') return String(value)
    return undefined
  }

  /**
   * Runs Pantavisor's garbage collector. It deletes every object not
   * hard-linked into a revision that has run, including objects uploaded for
   * a revision not yet run: never call it between upload and LOCAL_RUN.
   */
  async storageGc(): Promise<{ reclaimed: number }> {
    const call = this.describe('POST', '/storage/gc')
    const value = await expectJson(await this.open(call), call)
    const reclaimed = (value as { reclaimed?: unknown } | null)?.reclaimed
    if (typeof reclaimed !== 'number' || !Number.isFinite(reclaimed)) {
      throw new PvCtrlProtocolError(`pv-ctrl POST /storage/gc: expected {"reclaimed": <number>}`)
    }
    return { reclaimed }
  }

  /**
   * Polls a revision's progress until it is final (DONE, UPDATED, WONTGO,
   * ERROR). The device may reboot during the trial: while pv-ctrl is
   * unreachable it keeps polling.
   */
  async waitForTrialOutcome(
    rev: string,
    options: WaitForTrialOptions = {},
  ): Promise<TrialProgress> {
    assertRevisionName(rev, 'waitForTrialOutcome')
    const signal = this.signal(options.signal)
    return pollTrialOutcome(() => this.getProgress(rev), this.clock, options, signal)
  }

  private async open(call: PvCtrlCall): Promise<PvCtrlResponse> {
    return openCall(await this.resolveSocket(), call)
  }

  private async resolveSocket(): Promise<string> {
    if (this.socketPath === undefined) {
      this.socketPath = await findPvCtrlSocket(
        this.options.socketCandidates ?? DEFAULT_PVCTRL_SOCKET_PATHS,
      )
    }
    return this.socketPath
  }

  private describe(
    method: PvCtrlCall['method'],
    path: string,
    extra: Partial<PvCtrlCall> = {},
  ): PvCtrlCall {
    const call: PvCtrlCall = { method, path, timeoutMs: this.timeoutMs, ...extra }
    const signal = extra.signal ?? this.options.signal
    if (signal !== undefined) call.signal = signal
    return call
  }

  /** The client's signal and the call's, as `describe` takes them. */
  private callSignal(options: PvCtrlCallOptions): Partial<PvCtrlCall> {
    const signal = this.signal(options.signal)
    return signal === undefined ? {} : { signal }
  }

  private signal(extra: AbortSignal | undefined): AbortSignal | undefined {
    const own = this.options.signal
    if (own === undefined) return extra
    if (extra === undefined) return own
    return AbortSignal.any([own, extra])
  }
}
