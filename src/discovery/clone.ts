import { networkInterfaces } from 'node:os'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Logged (at error level) and carried by the `clone:suspected` event. */
export const CLONE_MESSAGE = 'another device is using this identity (data directory cloned?)'

/**
 * Evidence that a second device holds this node's private key. Peer ids are
 * meant to name one device; two devices sharing one (a cloned SD card or data
 * directory) would see each other's traffic as their own and confuse every
 * peer's bookkeeping, so this is surfaced instead of silently tolerated.
 */
export interface CloneSuspicion {
  /**
   * How it was seen:
   * - `mdns`: an mDNS answer carried our peer id under another process's instance name;
   * - `static-dial`: a static peer address that is not ours completed a security
   *   handshake as our own peer id (only a holder of our private key can).
   */
  via: 'mdns' | 'static-dial'
  /** Where the other holder answered from: an IP address (mDNS) or the dialled multiaddr. */
  remoteAddress: string
  /** Addresses it announced, when known. */
  multiaddrs: string[]
  detectedAt: Date
}

/**
 * True when `target` (host + TCP port) is one of this node's own listening
 * sockets: same port, and a host that is ours — an address libp2p reports,
 * a local interface address, loopback or the unspecified address.
 */
export function isOwnAddress(target: Multiaddr, own: readonly Multiaddr[]): boolean {
  const wanted = hostAndPort(target)
  if (wanted == null) {
    return false
  }
  const ownEndpoints = own.map(hostAndPort).filter(e => e != null)
  if (!ownEndpoints.some(e => e.port === wanted.port)) {
    return false
  }
  if (ownEndpoints.some(e => e.host === wanted.host)) {
    return true
  }
  return isLoopbackOrUnspecified(wanted.host) || localInterfaceAddresses().has(wanted.host)
}

function hostAndPort(ma: Multiaddr): { host: string; port: string } | undefined {
  const components = ma.getComponents()
  const host = components.find(c => c.name === 'ip4' || c.name === 'ip6')?.value
  const port = components.find(c => c.name === 'tcp')?.value
  return host == null || port == null ? undefined : { host, port }
}

function isLoopbackOrUnspecified(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === '0.0.0.0' || host === '::'
}

function localInterfaceAddresses(): Set<string> {
  return new Set(
    Object.values(networkInterfaces())
      .flatMap(list => list ?? [])
      .map(i => i.address),
  )
}
