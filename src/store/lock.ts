import { readFile } from 'node:fs/promises'
import { errorCode, isNotFound, removeFile, writeFileAtomic } from './fs-util.js'
import { StoreLockedError } from './errors.js'
import type { Layout } from './layout.js'

interface LockOwner {
  pid: number
  bootId: string
}

async function currentBootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()
  } catch {
    return ''
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errorCode(err) === 'EPERM'
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as Partial<LockOwner>
    if (typeof owner.pid !== 'number' || typeof owner.bootId !== 'string') return undefined
    return { pid: owner.pid, bootId: owner.bootId }
  } catch (err) {
    if (isNotFound(err) || err instanceof SyntaxError) return undefined
    throw err
  }
}

/**
 * One process per data directory: opening clears tmp/, which would destroy another live
 * process's writes in flight. The lock names its owner's pid and boot id; a lock whose process is
 * gone, or that was taken before the last reboot (pids repeat across boots on a device), is stale.
 * The same process may take its own lock again: a store abandoned without close(), as after a
 * crash, must not lock the directory against its own restart.
 *
 * Two processes that find the same stale lock at the same instant could both take it; the window
 * is one file read wide and only matters if two daemons are started on one directory at once.
 */
export async function acquireLock(layout: Layout): Promise<() => Promise<void>> {
  const me: LockOwner = { pid: process.pid, bootId: await currentBootId() }
  const owner = await readOwner(layout.lock)
  if (owner && owner.pid !== me.pid && owner.bootId === me.bootId && alive(owner.pid)) {
    throw new StoreLockedError(layout.dataDir, owner.pid)
  }
  await writeFileAtomic(layout.tempFile('lock'), layout.lock, JSON.stringify(me))

  return async () => {
    const still = await readOwner(layout.lock)
    if (still?.pid === me.pid) await removeFile(layout.lock)
  }
}
