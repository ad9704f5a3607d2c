import { PvswarmError } from '../util/errors.js'

/** A failure the user caused or can fix, found by the CLI itself: one line, exit code 1. */
export class CommandFailure extends PvswarmError {
  static override readonly name = 'CommandFailure'
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

/** What the CLI prints for a failure, and whether it was one a user can cause. */
export interface FailureReport {
  /** One line, without the `pvswarm: ` prefix. */
  message: string
  /** False for bugs: the caller may show the stack when asked to. */
  expected: boolean
}

// Node's own wording for these is `ENOENT: no such file or directory, open '/x'`;
// users read the path first, then the reason.
const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only filesystem',
  EMFILE: 'too many open files',
}

/** Turns anything thrown by a command into the one line the user sees. */
export function describeFailure(err: unknown): FailureReport {
  if (err instanceof PvswarmError) return { message: oneLine(err.message), expected: true }

  const errno = err as NodeJS.ErrnoException & { dest?: string }
  if (typeof errno?.code === 'string' && errno.code in ERRNO_REASONS) {
    const where = errno.path ?? errno.dest
    const reason = ERRNO_REASONS[errno.code] ?? errno.code
    return { message: where === undefined ? reason : `${where}: ${reason}`, expected: true }
  }
  // zlib reports a damaged gzip stream this way (e.g. `Z_DATA_ERROR`)
  if (typeof errno?.code === 'string' && errno.code.startsWith('Z_')) {
    return { message: `damaged gzip data (${oneLine(errno.message)})`, expected: true }
  }

  const message = err instanceof Error ? err.message : String(err)
  return { message: `internal error: ${oneLine(message)}`, expected: false }
}

/** Error texts from libraries sometimes span lines; the CLI promises one. */
export function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line !== '')
    .join(' ')
}

/**
 * Runs `work` and names `path` in any failure that does not already name it, so a message
 * from deep inside (`pvr export: expected a tar…`) says which input it is about.
 */
export async function aboutInput<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    const { message, expected } = describeFailure(err)
    if (!expected || message.includes(path)) throw err
    throw new CommandFailure(`${path}: ${message}`)
  }
}
