import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * `mkdir -p`, one level at a time. Node 24's recursive mkdir never settles for
 * a path under /proc (it retries the same ENOENT forever), which turned a typo
 * in `--data` into a daemon spinning at full CPU; this version fails with the
 * path it could not create.
 */
export async function makeDirectory(path: string, mode = 0o755): Promise<void> {
  try {
    await mkdir(path, { mode })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    const parent = dirname(path)
    if (code !== 'ENOENT' || parent === path) throw err
    await makeDirectory(parent, mode)
    try {
      await mkdir(path, { mode })
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again
    }
  }
}
