import { Command, CommanderError } from 'commander'
import { registerDataCommands } from './commands/data.js'
import { registerKeygen } from './commands/keygen.js'
import { registerRelease } from './commands/release.js'
import { registerRevision } from './commands/revision.js'

/** Builds the `pvswarm` command tree. */
export function buildProgram(): Command {
  const program = new Command('pvswarm')
    .description('spread signed Pantavisor revisions across a LAN, peer to peer')
    .showHelpAfterError(false)
    .exitOverride()
  registerKeygen(program)
  registerRelease(program)
  registerRevision(program)
  registerDataCommands(program)
  return program
}

/** Runs the CLI; failures end as one line on stderr and a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed help or the usage error
      process.exitCode = err.exitCode
      return
    }
    const error = err as Error & { exitCode?: number }
    process.stderr.write(`pvswarm: ${error.message}\n`)
    process.exitCode = typeof error.exitCode === 'number' ? error.exitCode : 1
  }
}
