import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { open, rename, stat, unlink } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import { basename, dirname, join } from 'node:path'
import { CommandFailure, describeFailure } from './errors.js'

/**
 * Folders every data directory has (complete objects, accepted releases). Both, since a git
 * directory has an objects/ too.
 */
const DATA_DIR_FOLDERS = ['objects', 'releases']

/**
 * Writes an output file so that it appears whole or not at all: `produce` writes into a temp file
 * beside `path` (same filesystem), which is fsynced and renamed over `path` only when `produce`
 * succeeded. On failure the temp file is removed and `path` is left as it was.
 */
export async function writeAtomically(
  path: string,
  produce: (out: NodeJS.WritableStream) => Promise<void>,
): Promise<void> {
  const temporary = join(
    dirname(path),
    `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  )
  const out = createWriteStream(temporary, { flags: 'wx', mode: 0o644 })
  // waiting for the open makes a bad directory fail here, before any work is done
  await once(out, 'open').catch((err: unknown) => {
    // name the file the user asked for, not the temp file
    const reason = describeFailure(err).message.replace(`${temporary}: `, '')
    throw new CommandFailure(`${path}: ${reason}`)
  })

  let published = false
  try {
    await produce(out)
    if (!out.writableEnded) out.end()
    await finished(out)
    const written = await open(temporary, 'r+')
    try {
      await written.sync()
    } finally {
      await written.close()
    }
    await rename(temporary, path)
    published = true
    await syncDirectory(dirname(path))
  } finally {
    if (!published) {
      out.destroy()
      await unlink(temporary).catch(() => {})
    }
  }
}

/** Makes a rename in `dir` survive a power cut. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Commands that read a data directory must not create one: `fsck --data typo` would otherwise
 * report a clean, empty store, and `fsck --data src` would fill src/ with a store's folders.
 */
export async function requireDataDir(dataDir: string): Promise<void> {
  const info = await stat(dataDir).catch(() => undefined)
  if (info === undefined) throw new CommandFailure(`${dataDir}: no such data directory`)
  if (!info.isDirectory()) throw new CommandFailure(`${dataDir}: not a directory`)
  for (const folder of DATA_DIR_FOLDERS) {
    const found = await stat(join(dataDir, folder)).catch(() => undefined)
    if (found === undefined || !found.isDirectory()) {
      throw new CommandFailure(
        `${dataDir}: not a pvswarm data directory (no ${folder}/ in it; import or daemon make one)`,
      )
    }
  }
}

/**
 * Checks up front that an output file can be created where asked, so a typo in `--out` fails
 * before minutes of work, and names the path the user gave rather than a temp file.
 */
export async function requireOutputDir(path: string): Promise<void> {
  const dir = dirname(path)
  const info = await stat(dir).catch(() => undefined)
  if (info === undefined || !info.isDirectory()) {
    throw new CommandFailure(`${path}: the directory ${dir} does not exist`)
  }
}
