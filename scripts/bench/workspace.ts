import { rmSync } from 'node:fs'
import { mkdtemp, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTeardown } from '../../test/sim/teardown.js'
import { MIB } from './figures.js'

/** A temp directory removed when the benchmark ends, however it ends (Ctrl-C included). */
export interface Workspace {
  dir: string
  remove(): Promise<void>
}

export async function workspace(prefix: string): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), `pvswarm-bench-${prefix}-`))
  const remove = onTeardown({
    what: `benchmark files in ${dir}`,
    cleanup: () => rm(dir, { recursive: true, force: true }),
    cleanupSync: () => rmSync(dir, { recursive: true, force: true }),
  })
  return { dir, remove }
}

/**
 * Fails before anything is written when the temp filesystem cannot hold `bytes` (with a margin of
 * 256 MiB): a benchmark that runs out of space half-way measures nothing.
 */
export async function checkFreeSpace(dir: string, bytes: number): Promise<void> {
  const stats = await statfs(dir)
  const free = stats.bavail * stats.bsize
  const needed = bytes + 256 * MIB
  if (free < needed) {
    throw new Error(
      `${dir}: needs ${(needed / MIB).toFixed(0)} MiB free, has ${(free / MIB).toFixed(0)} MiB`,
    )
  }
}
