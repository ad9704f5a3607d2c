import { readFile, stat, writeFile } from 'node:fs/promises'
import { InvalidKeyError } from './errors.js'
import { decodeKeyFile, encodeKeyFile, type ReleaseKeyPair } from './keys.js'

/** Writes a new private key file, mode 0600; refuses to overwrite an existing file. */
export async function writeKeyFile(path: string, key: ReleaseKeyPair): Promise<void> {
  try {
    await writeFile(path, encodeKeyFile(key), { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InvalidKeyError(`key file ${path} already exists; refusing to overwrite a key`)
    }
    throw err
  }
}

/** Reads a private key file; refuses one that others can read. */
export async function readKeyFile(path: string): Promise<ReleaseKeyPair> {
  const info = await stat(path)
  if ((info.mode & 0o077) !== 0) {
    throw new InvalidKeyError(
      `key file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
    )
  }
  return decodeKeyFile(await readFile(path, 'utf8'), `key file ${path}`)
}
