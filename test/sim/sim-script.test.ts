import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { repoRoot } from '../fixtures.js'
import { checkNetnsSupport, listNamespaces, NAMESPACE_PREFIX } from './netns.js'

const script = join(repoRoot, 'dist', 'scripts', 'sim.js')
const noNetns = await checkNetnsSupport().then(
  () => undefined,
  (err: Error) => err.message,
)

interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

function sim(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; finished: Promise<Finished> } {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', d => (stdout += d))
  child.stderr!.on('data', d => (stderr += d))
  const finished = once(child, 'exit').then(([code]) => ({
    code: code as number | null,
    stdout,
    stderr,
  }))
  return { child, finished }
}

function lastJsonLine(stdout: string): any {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!)
}

/** Processes whose command line mentions `text` (the device processes carry their spec in argv). */
function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

async function namespacesOf(pid: number | undefined): Promise<string[]> {
  return (await listNamespaces()).filter(ns => ns.startsWith(`${NAMESPACE_PREFIX}${pid}-`))
}

describe('npm run sim', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pvswarm-sim-script-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('ends with the --json line: every device, its outcome and where its bytes came from', async () => {
    const { finished } = sim(['--devices', '3', '--generate-mib', '4', '--json'])
    const { code, stdout, stderr } = await finished

    assert.equal(code, 0, stderr)
    const line = lastJsonLine(stdout)
    assert.equal(line.sim, 'done')
    assert.equal(line.all_done, true)
    assert.deepEqual(
      line.devices.map((d: any) => d.name),
      ['dev-00', 'dev-01', 'dev-02'],
    )
    for (const device of line.devices.slice(1)) {
      assert.ok(['DONE', 'UPDATED'].includes(device.outcome))
      assert.ok(device.bytes_from_seed + device.bytes_from_peers >= 4 * 1024 * 1024 * 0.9)
    }
    assert.equal(typeof line.seconds, 'number')
  })

  it('refuses a revision it cannot read, naming it', async () => {
    const { finished } = sim(['--revision', join(dir, 'missing.tgz'), '--json'])
    const { code, stdout, stderr } = await finished

    assert.equal(code, 1)
    assert.equal(stdout, '')
    assert.match(stderr, /--revision: cannot read .*missing\.tgz/)
  })

  it('refuses a device count that is not a whole number ≥ 1', async () => {
    const { finished } = sim(['--devices', '0'])
    const { code, stderr } = await finished

    assert.equal(code, 2)
    assert.match(stderr, /--devices.*expected a whole number ≥ 1, got "0"/)
  })
})

describe('npm run sim --netns', { skip: noNetns }, () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pvswarm-sim-netns-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('spreads a release over shaped links and leaves no namespace behind', async () => {
    const { child, finished } = sim(
      ['--netns', '--devices', '3', '--link-mbit', '40'].concat(['--generate-mib', '4', '--json']),
    )
    const { code, stdout, stderr } = await finished

    assert.equal(code, 0, stderr)
    const line = lastJsonLine(stdout)
    assert.equal(line.mode, 'netns')
    assert.equal(line.link_mbit, 40)
    assert.equal(line.all_done, true)
    // 4 MiB over a 40 Mbit/s link cannot take less than ~0.8 s
    assert.ok(line.seconds > 0.8, `took ${line.seconds} s`)
    assert.deepEqual(await namespacesOf(child.pid), [])
  })

  it('tears down namespaces, device processes and folders on SIGINT', async () => {
    const marker = join(dir, 'sigint-devices.log')
    // the simulator's temporary folders go here, to be checked afterwards
    const temp = join(dir, 'tmp')
    await mkdir(temp)
    const { child, finished } = sim(
      ['--netns', '--devices', '2', '--generate-mib', '4'].concat(['--log', marker]),
      { ...process.env, TMPDIR: temp },
    )
    const lines = createInterface({ input: child.stdout! })
    for await (const line of lines) if (line.startsWith('floor of 2 devices up')) break
    assert.equal((await namespacesOf(child.pid)).length, 3, 'hub + 2 device namespaces')
    const devices = processesMentioning(marker).filter(pid => pid !== child.pid)
    assert.equal(devices.length, 2, 'two device processes')

    child.kill('SIGINT')
    const { code } = await finished

    assert.equal(code, 128 + 2)
    assert.deepEqual(await namespacesOf(child.pid), [])
    assert.deepEqual(processesMentioning(marker), [])
    assert.deepEqual(await readdir(temp), [])
  })
})
