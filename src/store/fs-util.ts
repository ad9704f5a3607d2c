import { createHash } from 'node:crypto'
import { open, rename, rm, unlink, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { FILE_MODE } from './layout.js'

/** Node's error codes, typed loosely enough to test. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined
}

export function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'ENOENT'
}

export function isNoSpace(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/**
 * fsync a directory, so that a rename or unlink in it survives a power cut. Some filesystems
 * refuse to fsync a directory (EINVAL, EISDIR on a few network filesystems); there is nothing
 * better to do there, so that is ignored.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } catch (err) {
    const code = errorCode(err)
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP') throw err
  } finally {
    await handle.close()
  }
}

/** Remove a file if it is there. */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true })
}

/** Remove a file if it is there; whether it was. */
export async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path)
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

/**
 * Replace `target` with `bytes` so that a reader (or a reboot) sees either the old file or the
 * new one, never a torn one: write a temp file, fsync it, rename it over the target, fsync the
 * target's directory.
 */
export async function writeFileAtomic(
  tempPath: string,
  target: string,
  bytes: Uint8Array | string,
): Promise<void> {
  try {
    const handle = await open(tempPath, 'wx', FILE_MODE)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tempPath, target)
  } catch (err) {
    await removeFile(tempPath)
    throw err
  }
  await fsyncDir(dirname(target))
}

/** Bytes read (and held) at a time when hashing or streaming a file. */
export const IO_BUFFER_BYTES = 256 * 1024

/** Read `length` bytes at `position`; shorter only if the file ends first. */
export async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
): Promise<Buffer> {
  return readInto(handle, Buffer.allocUnsafe(length), position, length)
}

/**
 * Read `length` bytes at `position` into the start of `buffer` (at least that long); the part of
 * `buffer` filled, shorter only if the file ends first.
 */
export async function readInto(
  handle: FileHandle,
  buffer: Buffer,
  position: number,
  length: number,
): Promise<Buffer> {
  let filled = 0
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return buffer.subarray(0, filled)
}

/** Write all of `bytes` at `position` (or at the file position when `position` is null). */
export async function writeAll(
  handle: FileHandle,
  bytes: Uint8Array,
  position: number | null,
): Promise<void> {
  let done = 0
  while (done < bytes.byteLength) {
    const at = position === null ? null : position + done
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, at)
    done += bytesWritten
  }
}

/**
 * Write `pieces` back to back from `position` with vectored writes, so pieces that arrived
 * apart need not be joined into one buffer first. A short write (the kernel may take part of a
 * vector) continues where it stopped.
 */
export async function writevAll(
  handle: FileHandle,
  pieces: readonly Uint8Array[],
  position: number,
): Promise<void> {
  let rest = pieces.filter(piece => piece.byteLength > 0)
  let at = position
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, at)
    if (bytesWritten === 0) throw new Error(`writev at ${at} wrote nothing`)
    at += bytesWritten
    let skipped = bytesWritten
    let first = 0
    while (first < rest.length && skipped >= rest[first]!.byteLength) {
      skipped -= rest[first]!.byteLength
      first++
    }
    rest = rest.slice(first)
    if (skipped > 0) rest[0] = rest[0]!.subarray(skipped)
  }
}

/** sha256 hex of bytes start…end (exclusive) of an open file, read in bounded pieces. */
export async function hashRange(handle: FileHandle, start: number, end: number): Promise<string> {
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(Math.min(IO_BUFFER_BYTES, Math.max(1, end - start)))
  let position = start
  while (position < end) {
    const want = Math.min(buffer.length, end - position)
    const { bytesRead } = await handle.read(buffer, 0, want, position)
    if (bytesRead === 0) break
    hash.update(buffer.subarray(0, bytesRead))
    position += bytesRead
  }
  return hash.digest('hex')
}

/** Open a file for reading, or undefined if it is not there. */
export async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r')
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}
