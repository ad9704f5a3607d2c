/**
 * Where a revision is in Pantavisor's update flow, as `GET /steps/<rev>/progress`
 * reports it (`status-msg` on the wire becomes `statusMsg`).
 *
 * `NEW` stored; `INPROGRESS` and `TESTING` during the trial; then `DONE`
 * (committed, rollback point), `UPDATED` (held without a reboot), `WONTGO`
 * (refused before running) or `ERROR` (failed during the trial, rolled back).
 * `QUEUED` and `DOWNLOADING` appear only for cloud updates.
 */
export interface TrialProgress {
  status:
    | 'NEW'
    | 'INPROGRESS'
    | 'TESTING'
    | 'DONE'
    | 'UPDATED'
    | 'WONTGO'
    | 'ERROR'
    | 'QUEUED'
    | 'DOWNLOADING'
    | (string & {})
  statusMsg: string
  /** Pantavisor's coarse percentage (0, 50, 75, 100); not a byte count */
  progress: number
  retries?: number
  logs?: string
}

/** Statuses after which Pantavisor does nothing more with the revision. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['DONE', 'UPDATED', 'WONTGO', 'ERROR'])

/** Statuses meaning the revision now runs. */
export const SUCCESS_STATUSES: ReadonlySet<string> = new Set(['DONE', 'UPDATED'])

/**
 * Reads a progress document; returns undefined when it lacks a string `status`.
 * Missing optional fields take Pantavisor's neutral values.
 */
export function parseTrialProgress(value: unknown): TrialProgress | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const record = value as Record<string, unknown>
  if (typeof record.status !== 'string') return undefined

  const progress: TrialProgress = {
    status: record.status,
    statusMsg: typeof record['status-msg'] === 'string' ? record['status-msg'] : '',
    progress: typeof record.progress === 'number' ? record.progress : 0,
  }
  if (typeof record.retries === 'number') progress.retries = record.retries
  if (typeof record.logs === 'string') progress.logs = record.logs
  return progress
}
