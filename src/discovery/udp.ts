import { createSocket, type Socket } from 'node:dgram'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'

/** Whether mDNS queries, answers and group joins use an interface address: IPv4, not loopback. */
export function carriesMdns(info: NetworkInterfaceInfo): boolean {
  return info.family === 'IPv4' && !info.internal
}

/** This host's non-loopback IPv4 interface addresses. */
export function ipv4Interfaces(): Array<{ address: string }> {
  return Object.values(networkInterfaces())
    .flatMap(list => list ?? [])
    .filter(carriesMdns)
}

/** True for loopback or an address of one of this host's interfaces. */
export function isLocalAddress(address: string): boolean {
  return address.startsWith('127.') || ipv4Interfaces().some(i => i.address === address)
}

/** A UDP socket bound on all interfaces; `shared` lets other processes bind the same port. */
export async function bindSocket(port: number, shared: boolean): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reuseAddr: shared })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind({ port, address: '0.0.0.0', exclusive: false }, () => {
      socket.off('error', reject)
      resolve()
    })
  }).catch(async err => {
    await closeSocket(socket)
    throw err
  })
  return socket
}

/** Sends one datagram; resolves once it has left. */
export async function send(
  socket: Socket,
  bytes: Uint8Array,
  port: number,
  address: string,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.send(bytes, port, address, err => (err == null ? resolve() : reject(err)))
  })
}

/** Closes a socket; an absent or already closed one is fine. */
export async function closeSocket(socket: Socket | undefined): Promise<void> {
  if (socket == null) {
    return
  }
  await new Promise<void>(resolve => {
    try {
      socket.close(() => resolve())
    } catch {
      resolve() // already closed
    }
  })
}
