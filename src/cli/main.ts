import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { registerDaemon } from './commands/daemon.js'
import { registerDataCommands } from './commands/data.js'
import { registerDoctor } from './commands/doctor.js'
import { registerKeygen } from './commands/keygen.js'
import { registerRelease } from './commands/release.js'
import { registerRevision } from './commands/revision.js'
import { registerFleet } from './commands/fleet.js'
import { registerStatus } from './commands/status.js'
import { describeFailure, oneLine } from './errors.js'

/** Set to anything non-empty to see the stack of an internal error. */
const DEBUG_VARIABLE = 'PVSWARM_DEBUG'

/** Builds the `pvswarm` command tree. */
export function buildProgram(): Command {
  const program = new Command('pvswarm')
    .description('spread signed Pantavisor revisions across a LAN, peer to peer')
    .version(versionText(), '-V, --version', 'print the pvswarm and Node versions')
    .showHelpAfterError(false)
    // subcommands copy these settings when they are created, so they come before registering
    .configureOutput({
      outputError: (text, write) => write(`pvswarm: ${oneLine(text.replace(/^error: /, ''))}\n`),
    })
    .exitOverride()
  registerKeygen(program)
  registerRelease(program)
  registerRevision(program)
  registerDataCommands(program)
  registerDaemon(program)
  registerStatus(program)
  registerFleet(program)
  registerDoctor(program)
  return program
}

/** Runs the CLI; failures end as one line on stderr and a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  // `pvswarm status | head`: a reader that went away is not an error of ours
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw err
  })
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed help, the version or the usage error
      process.exitCode = err.exitCode
      return
    }
    const { message, expected } = describeFailure(err)
    const debug = (process.env[DEBUG_VARIABLE] ?? '') !== ''
    const hint = expected || debug ? '' : ` (a bug; set ${DEBUG_VARIABLE}=1 to see where)`
    process.stderr.write(`pvswarm: ${message}${hint}\n`)
    if (!expected && debug && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`)
    const exitCode = (err as { exitCode?: unknown }).exitCode
    process.exitCode = typeof exitCode === 'number' && exitCode !== 0 ? exitCode : 1
  }
}

/** `0.1.0 (node 24.11.0)`: which Node ran matters, since bin/ may re-run under a bundled one. */
function versionText(): string {
  let version = 'unknown'
  try {
    // dist/src/cli/main.js → the checkout's package.json
    const pkg = JSON.parse(
      readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
    ) as { version?: unknown }
    if (typeof pkg.version === 'string') version = pkg.version
  } catch {
    // a copy without package.json still runs; only the version is unknown
  }
  return `${version} (node ${process.versions.node})`
}
