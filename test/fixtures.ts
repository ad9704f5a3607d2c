import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout's root (tests run from dist/test/…). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Real input shared by the team: ../shared/fixtures beside the checkout. */
export const fixturesDir = resolve(repoRoot, '..', 'shared', 'fixtures')

export const statesDir = join(fixturesDir, 'pantavisor-states')
export const revisionsDir = join(fixturesDir, 'revisions')

/** Path of a fixture revision export, e.g. `revisionFixture('rev1')`. */
export function revisionFixture(name: 'rev1' | 'rev2' | 'rev3'): string {
  return join(revisionsDir, `${name}.tgz`)
}

if (!existsSync(fixturesDir)) {
  throw new Error(`tests need the shared fixtures at ${fixturesDir}`)
}
