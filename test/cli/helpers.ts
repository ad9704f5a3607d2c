import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import { extract as tarExtract, pack as tarPack } from 'tar-stream'
import { repoRoot } from '../fixtures.js'

/** The project's own Node (24), as npm scripts and users of the checkout run it. */
export const bundledNode = join(repoRoot, 'node_modules', '.bin', 'node')
export const pvswarmBin = join(repoRoot, 'bin', 'pvswarm.js')

/** Canonical-json sha256 of the fixture revisions (MANIFEST.md). */
export const REV1_ID = '2ca6f8c713ce96fc85e28ade9cecedfa142ca435eb4f20fd8ba4b31270e90efa'
export const REV2_ID = 'f2d174e4ab5ef0bfadd5a2a41ed7dd731c228d1a2c28cbcbaf5d654a98de09d1'
/** Each fixture revision's objects, and their bytes, per MANIFEST.md. */
export const FIXTURE_OBJECTS = 9
export const REV1_OBJECT_BYTES = 21_578_551
export const FIXTURE_STATE_BYTES = 4399

/**
 * A command line written as one string: `` argv`release show ${file} --json` `` gives
 * `['release', 'show', file, '--json']`. The literal text is split on whitespace; every
 * interpolated value stays one argument, whatever it contains.
 */
export function argv(strings: TemplateStringsArray, ...values: string[]): string[] {
  const args: string[] = []
  for (const [index, text] of strings.entries()) {
    args.push(...text.split(/\s+/).filter(word => word !== ''))
    const value = values[index]
    if (value !== undefined) args.push(value)
  }
  return args
}

export interface CliResult {
  /** Exit code; null when a signal ended the process. */
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `pvswarm args…` as a user would, from its bin script, and collects what it printed. */
export function runCli(
  args: readonly string[],
  options: { node?: string; cwd?: string } = {},
): Promise<CliResult> {
  const env = { ...process.env }
  delete env['PVSWARM_DEBUG']
  const child = spawn(options.node ?? bundledNode, [pvswarmBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', code => resolve({ code, stdout, stderr }))
  })
}

/** Runs and asserts success; returns stdout parsed as JSON when `--json` is among the args. */
export async function runOk(args: readonly string[]): Promise<CliResult> {
  const result = await runCli(args)
  assert.equal(result.code, 0, `pvswarm ${args.join(' ')} failed: ${result.stderr}`)
  return result
}

export async function runJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T> {
  return JSON.parse((await runOk([...args, '--json'])).stdout) as T
}

/**
 * Asserts the way every expected failure must look: a non-zero exit and exactly one line on
 * stderr, `pvswarm: <reason>`, with no stack trace. Returns the reason.
 */
export function assertOneLineFailure(result: CliResult, reason?: RegExp): string {
  assert.notEqual(result.code, 0, `expected a failure, got exit 0; stdout: ${result.stdout}`)
  const lines = result.stderr.split('\n').filter(line => line !== '')
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`)
  const line = lines[0] ?? ''
  assert.match(line, /^pvswarm: \S/)
  assert.doesNotMatch(line, /\bat .+:\d+:\d+/, 'looks like a stack frame')
  if (reason !== undefined) assert.match(line, reason)
  return line
}

export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pvswarm-cli-'))
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true })
}

/** Copies a pvr export, flipping every bit of one byte in the middle of member `objects/<sha>`. */
export async function corruptExportObject(from: string, to: string, sha256: string): Promise<void> {
  const extract = tarExtract()
  const pack = tarPack()
  let corrupted = false
  const copying = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = []
      for await (const piece of entry as AsyncIterable<Buffer>) parts.push(piece)
      const body = Buffer.concat(parts)
      if (entry.header.name === `objects/${sha256}`) {
        const middle = Math.floor(body.byteLength / 2)
        body[middle] = (body[middle] ?? 0) ^ 0xff
        corrupted = true
      }
      await new Promise<void>((resolve, reject) =>
        pack.entry(entry.header, body, err => (err ? reject(err) : resolve())),
      )
    }
    pack.finalize()
  })()
  await Promise.all([
    pipeline(createReadStream(from), createGunzip(), extract),
    pipeline(pack, createGzip(), createWriteStream(to)),
    copying,
  ])
  assert.ok(corrupted, `${from} has no member objects/${sha256}`)
}
