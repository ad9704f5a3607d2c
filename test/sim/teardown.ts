/**
 * Teardown that happens whatever ends the run: a normal return, a thrown
 * error, SIGINT/SIGTERM (Ctrl-C, a CI timeout) or `process.exit()`. Each
 * resource registers an async cleanup and, where it can, a synchronous
 * fallback for the `exit` event, where nothing asynchronous runs any more.
 */

export interface TeardownEntry {
  /** what is being cleaned up, for the message when it fails */
  what: string
  /** the normal, asynchronous cleanup */
  cleanup: () => Promise<void>
  /** last resort from the `exit` event, when `cleanup` never ran or did not finish */
  cleanupSync?: () => void
}

/** How long a signal waits for the async cleanups before the process exits anyway. */
const SIGNAL_CLEANUP_TIMEOUT_MS = 15_000

interface Registered extends TeardownEntry {
  /** runs `cleanup` once; every caller shares the one promise */
  run: () => Promise<void>
}

const entries = new Set<Registered>()
let installed = false
let signalled = false

/**
 * Registers a cleanup. Returns `release`, which runs the cleanup once (later
 * calls share its promise) and unregisters it.
 */
export function onTeardown(entry: TeardownEntry): () => Promise<void> {
  install()
  let running: Promise<void> | undefined
  const registered: Registered = {
    ...entry,
    run: () =>
      (running ??= entry.cleanup().then(() => {
        // a failed cleanup stays registered: its sync fallback runs on exit
        entries.delete(registered)
      })),
  }
  entries.add(registered)
  return registered.run
}

/** Cleanups still registered (for tests). */
export function pendingTeardowns(): number {
  return entries.size
}

function install(): void {
  if (installed) return
  installed = true
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void onSignal(signal))
  }
  process.on('exit', runSyncFallbacks)
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  // a second Ctrl-C while cleaning up must not skip the cleanup: it is ignored
  if (signalled) return
  signalled = true
  process.stderr.write(`\n${signal}: tearing down (${entries.size} to clean up)\n`)
  const timer = setTimeout(() => process.exit(signalExitCode(signal)), SIGNAL_CLEANUP_TIMEOUT_MS)
  await Promise.allSettled(
    [...entries].reverse().map(async entry => {
      try {
        await entry.run()
      } catch (err) {
        process.stderr.write(`teardown of ${entry.what} failed: ${(err as Error).message}\n`)
      }
    }),
  )
  clearTimeout(timer)
  process.exit(signalExitCode(signal))
}

function runSyncFallbacks(): void {
  for (const entry of [...entries].reverse()) {
    try {
      entry.cleanupSync?.()
    } catch (err) {
      process.stderr.write(`teardown of ${entry.what} failed: ${(err as Error).message}\n`)
    }
  }
  entries.clear()
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as Record<string, number>)[signal]!
}
