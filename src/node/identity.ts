import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { chmod, link, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { IDENTITY_FILE } from './constants.js'
import { IdentityFileError } from './errors.js'
import { makeDirectory } from '../util/make-directory.js'

const OWNER_ONLY = 0o600

export interface IdentityOptions {
  /** Told when a key file had looser permissions than 0600 and was tightened. */
  logger?: Logger
}

/**
 * The device's libp2p identity: an Ed25519 key kept at `<dataDir>/identity.key`
 * (libp2p protobuf encoding, mode 0600). Created on first use; every later
 * start returns the same key, so the peer id survives restarts.
 *
 * Creation is a write to a temporary file, fsync, then `link()` onto the final
 * name: a power cut leaves either no key or a whole one, and two processes
 * racing on one empty data directory end up with the same key (the loser of
 * the link reads the winner's file).
 *
 * @throws IdentityFileError when the file exists but is empty, unreadable or not an Ed25519 key
 */
export async function loadOrCreateIdentity(
  dataDir: string,
  options: IdentityOptions = {},
): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE)
  const existing = await readIdentity(path, options.logger)
  if (existing != null) {
    return existing
  }

  await makeDirectory(dataDir, 0o700)
  const key = await generateKeyPair('Ed25519')
  const temp = join(dataDir, `.${IDENTITY_FILE}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(
    temp,
    fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY,
    OWNER_ONLY,
  )
  try {
    await file.writeFile(privateKeyToProtobuf(key))
    await file.sync()
  } finally {
    await file.close()
  }

  try {
    await publishWithoutClobbering(temp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw err
    }
    // Another process created the identity first: theirs is the one on disk.
    const winner = await readIdentity(path, options.logger)
    if (winner == null) {
      throw new IdentityFileError(`identity file ${path} vanished while it was being created`)
    }
    return winner
  } finally {
    await unlink(temp).catch(ignoreMissing)
  }

  await syncDirectory(dataDir)
  return key
}

async function readIdentity(path: string, logger?: Logger): Promise<PrivateKey | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined
    }
    throw new IdentityFileError(`identity file ${path} cannot be read: ${(err as Error).message}`, {
      cause: err,
    })
  }

  if (bytes.byteLength === 0) {
    throw new IdentityFileError(
      `identity file ${path} is empty: expected a libp2p Ed25519 private key; ` +
        'move it away to let a new identity be created',
    )
  }

  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityFileError(
      `identity file ${path} (${bytes.byteLength} bytes) is not a libp2p protobuf private key`,
      { cause: err },
    )
  }
  if (key.type !== 'Ed25519') {
    throw new IdentityFileError(
      `identity file ${path}: expected an Ed25519 key, found a ${key.type} key`,
    )
  }

  const mode = (await stat(path)).mode & 0o777
  if ((mode & 0o077) !== 0) {
    await chmod(path, OWNER_ONLY)
    logger?.warn(
      { path, mode: mode.toString(8) },
      'identity file was readable by others; permissions tightened to 0600',
    )
  }
  return key
}

/**
 * `link()` fails with EEXIST instead of replacing an identity another
 * process just wrote. Filesystems without hard links (FAT on removable
 * media) fall back to `rename()`, which would replace it: a race there
 * leaves the two processes with different keys until the next start.
 */
async function publishWithoutClobbering(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
      throw err
    }
    await rename(temp, path)
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') {
    throw err
  }
}

/** Makes the new directory entry itself durable, not just the file's bytes. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, fsConstants.O_RDONLY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
