import { webcrypto } from 'node:crypto'

/**
 * sha256 hex of some bytes, computed on libuv's thread pool rather than the event loop: a node
 * verifying ~100 one-MiB chunks a second while serving peers should not spend that time blocked.
 */
export async function sha256HexOffThread(bytes: Uint8Array): Promise<string> {
  const digest = await webcrypto.subtle.digest('SHA-256', bytes)
  return Buffer.from(digest).toString('hex')
}
