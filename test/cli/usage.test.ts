import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, it } from 'node:test'
import type { Command } from 'commander'
import { buildProgram } from '../../src/cli/main.js'
import { assertOneLineFailure, runCli } from './helpers.js'

/** Debian's Node, older than libp2p needs: bin/pvswarm.js must re-run itself under Node 24. */
const SYSTEM_NODE = '/usr/bin/node'

/** Why the re-run cannot be shown here, or false when it can. */
function systemNodeUnfit(): string | false {
  if (!existsSync(SYSTEM_NODE)) return `${SYSTEM_NODE} not installed`
  const version = execFileSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).trim()
  const major = Number(version.replace(/^v/, '').split('.')[0])
  return major < 22 ? false : `${SYSTEM_NODE} is ${version}: new enough that nothing is re-run`
}

/** Every command path of the program, e.g. `[]`, `['release']`, `['release', 'create']`. */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return [prefix, ...command.commands.flatMap(sub => commandPaths(sub, [...prefix, sub.name()]))]
}

describe('pvswarm usage', () => {
  it('--help works for every command and subcommand', async () => {
    const paths = commandPaths(buildProgram())
    assert.ok(paths.length >= 11, `only ${paths.length} commands found`)

    const results = await Promise.all(paths.map(path => runCli([...path, '--help'])))

    for (const [index, path] of paths.entries()) {
      const result = results[index]
      const name = ['pvswarm', ...path].join(' ')
      assert.equal(result?.code, 0, `${name} --help: ${result?.stderr}`)
      assert.ok(result.stdout.startsWith(`Usage: ${name} `), `${name}:\n${result.stdout}`)
      assert.equal(result.stderr, '')
    }
  })

  it('an unknown command, subcommand or option exits 1 with one line', async () => {
    const [command, subcommand, option] = await Promise.all([
      runCli(['frobnicate']),
      runCli(['release', 'frobnicate']),
      runCli(['fsck', '--data', '/nonexistent', '--frobnicate']),
    ])
    assert.equal(command.code, 1)
    assertOneLineFailure(command, /unknown command 'frobnicate'/)
    assertOneLineFailure(subcommand, /unknown command 'frobnicate'/)
    assertOneLineFailure(option, /unknown option '--frobnicate'/)
  })

  it('a missing required option or argument, or a bad value, exits 1 with one line', async () => {
    const [option, argument, value] = await Promise.all([
      runCli(['import', '/nonexistent.tgz']),
      runCli(['export', '--data', '/nonexistent', '--out', '/nonexistent/x.tgz']),
      runCli(['release', 'create', '--revision', 'x', '--fleet', 'f', '--sequence', '0']),
    ])
    assertOneLineFailure(option, /required option '--data <dir>'/)
    assertOneLineFailure(argument, /missing required argument 'revision'/)
    assertOneLineFailure(value, /--sequence.*expected a positive integer, got "0"/)
  })

  it('a suggestion for a mistyped command stays on the one line', async () => {
    assertOneLineFailure(await runCli(['relase']), /unknown command 'relase'.*release/)
  })

  it(
    'started by the system Node 20, re-runs itself under the bundled Node 24',
    {
      skip: systemNodeUnfit(),
    },
    async () => {
      const [version, failure] = await Promise.all([
        runCli(['--version'], { node: SYSTEM_NODE }),
        runCli(['frobnicate'], { node: SYSTEM_NODE }),
      ])

      assert.equal(version.code, 0, version.stderr)
      const major = Number(version.stdout.match(/\(node (\d+)\./)?.[1])
      assert.ok(major >= 22, `ran under node ${version.stdout.trim()}`)
      // the exit code and the one-line message come through the re-run unchanged
      assert.equal(failure.code, 1)
      assertOneLineFailure(failure, /unknown command 'frobnicate'/)
    },
  )
})
