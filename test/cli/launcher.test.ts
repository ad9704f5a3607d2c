import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DEVICE_NODE_FLAGS } from '../../src/node/runtime-flags.js'
import { generateReleaseKey } from '../../src/release/index.js'
import { bundledNode, pvswarmBin, removeDir, tempDir } from './helpers.js'

/** Debian's Node, older than libp2p needs: the launcher re-runs itself under the bundled one. */
const SYSTEM_NODE = '/usr/bin/node'

/** Prints node's flags when a process exits; see report-flags.ts. */
const REPORT_FLAGS = fileURLToPath(new URL('./report-flags.js', import.meta.url))

interface Launched {
  code: number | null
  /** one entry per process that reported, in the order they exited */
  reports: { version: string; execArgv: string[] }[]
}

/**
 * Runs the launcher. The reporter is loaded from node's command line, or from NODE_OPTIONS with
 * `viaNodeOptions` (which every process of the run inherits).
 */
function launch(
  node: string,
  args: string[],
  { nodeOptions = '', viaNodeOptions = false } = {},
): Promise<Launched> {
  const env = { ...process.env }
  env['NODE_OPTIONS'] = viaNodeOptions ? `--import ${REPORT_FLAGS} ${nodeOptions}` : nodeOptions
  const nodeArgs = viaNodeOptions ? [] : ['--import', REPORT_FLAGS]
  const child = spawn(node, [...nodeArgs, pvswarmBin, ...args], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', code => {
      const reports = stderr
        .split('\n')
        .filter(line => line.startsWith('flags '))
        .map(line => JSON.parse(line.slice('flags '.length)))
      resolve({ code, reports })
    })
  })
}

/** A download-only daemon on loopback that logs at info (it says when its API listens). */
function daemonArgs(dir: string): string[] {
  return [
    ...['daemon', '--data', dir, '--fleet', 'f', '--trust', generateReleaseKey().publicKey],
    ...['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-dht', '--pvctrl', 'none'],
    ...['--api', '127.0.0.1:0', '--log-level', 'info'],
  ]
}

describe('bin/pvswarm.js', () => {
  it('runs the command with the device flags, in the same process', async () => {
    const { code, reports } = await launch(bundledNode, ['--version'])

    assert.equal(code, 0)
    assert.equal(reports.length, 1, 'one process ran the command')
    for (const flag of DEVICE_NODE_FLAGS) assert.ok(reports[0]!.execArgv.includes(flag))
    // what node was started with is kept
    assert.equal(reports[0]!.execArgv[0], '--import')
  })

  it('leaves a flag the user set in NODE_OPTIONS alone', async () => {
    const { code, reports } = await launch(bundledNode, ['--version'], {
      nodeOptions: '--max-semi-space-size=4',
    })

    assert.equal(code, 0)
    assert.equal(reports.length, 1)
    assert.deepEqual(
      reports[0]!.execArgv.filter(arg => arg.includes('semi-space')),
      [],
      'no flag added on top of NODE_OPTIONS',
    )
  })

  it('keeps the exit code of a failing command', async () => {
    const { code, reports } = await launch(bundledNode, ['frobnicate'])

    assert.equal(code, 1)
    assert.equal(reports.length, 1)
  })

  it(
    'a daemon it starts is the process it was started as, and stops cleanly on SIGTERM',
    { skip: existsSync('/proc/self/cmdline') ? false : 'no /proc' },
    async () => {
      const dir = await tempDir()
      const args = daemonArgs(dir)
      // the daemon logs to stderr
      const child = spawn(bundledNode, [pvswarmBin, ...args], {
        stdio: ['ignore', 'inherit', 'pipe'],
      })
      const exited = new Promise<[number | null, NodeJS.Signals | null]>(resolve =>
        child.once('exit', (code, signal) => resolve([code, signal])),
      )
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
      try {
        const lines = createInterface({ input: child.stderr })
        const started = new Promise<void>(resolve =>
          lines.on('line', line => {
            // logged in the same step that sets up the daemon's signal handlers
            if (line.includes('"status API listening"')) resolve()
          }),
        )
        await started
        // execve kept the pid: the daemon itself gets the signal, with nobody in between
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')
        for (const flag of DEVICE_NODE_FLAGS) assert.ok(cmdline.includes(flag), cmdline.join(' '))
        assert.ok(cmdline.includes('daemon'))

        child.kill('SIGTERM')
        assert.deepEqual(await exited, [0, null])
      } finally {
        clearTimeout(timer)
        child.kill('SIGKILL')
        await removeDir(dir)
      }
    },
  )

  it(
    'started by the system Node 20, a daemon ends when the launcher is killed with SIGKILL',
    { skip: existsSync(SYSTEM_NODE) ? false : `${SYSTEM_NODE} not installed` },
    async () => {
      const dir = await tempDir()
      const args = daemonArgs(dir)
      const launcher = spawn(SYSTEM_NODE, [pvswarmBin, ...args], {
        stdio: ['ignore', 'inherit', 'pipe'],
      })
      let daemonPid: number | undefined
      try {
        const lines = createInterface({ input: launcher.stderr })
        daemonPid = await new Promise<number>(resolve =>
          lines.on('line', line => {
            if (line.includes('"status API listening"')) resolve(JSON.parse(line).pid as number)
          }),
        )
        assert.notEqual(daemonPid, launcher.pid, 'the daemon runs in a child of the launcher')
        launcher.kill('SIGKILL')
        const deadline = Date.now() + 30_000
        while (existsSync(`/proc/${daemonPid}`)) {
          // a zombie has been reaped by nobody yet but no longer runs
          const state = readFileSync(`/proc/${daemonPid}/stat`, 'utf8').split(' ')[2]
          if (state === 'Z') break
          if (Date.now() > deadline) assert.fail(`daemon ${daemonPid} outlived its launcher`)
          await new Promise(resolve => setTimeout(resolve, 50))
        }
      } finally {
        launcher.kill('SIGKILL')
        if (daemonPid !== undefined && existsSync(`/proc/${daemonPid}`)) {
          process.kill(daemonPid, 'SIGKILL')
        }
        await removeDir(dir)
      }
    },
  )

  it(
    'started by the system Node 20, runs the bundled node with the device flags',
    { skip: existsSync(SYSTEM_NODE) ? false : `${SYSTEM_NODE} not installed` },
    async () => {
      const { code, reports } = await launch(SYSTEM_NODE, ['--version'], { viaNodeOptions: true })

      assert.equal(code, 0)
      const ran = reports.find(report => Number(report.version.split('.')[0]) >= 22)
      assert.ok(ran, `no report from a node >= 22: ${JSON.stringify(reports)}`)
      for (const flag of DEVICE_NODE_FLAGS) assert.ok(ran.execArgv.includes(flag))
    },
  )
})
