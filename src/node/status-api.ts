import { createServer, type Server } from 'node:http'
import type { Handover } from '../pantavisor/index.js'
import type { Device } from './device.js'

export interface StatusApi {
  /** the address it listens on, host:port */
  address: string
  close(): Promise<void>
}

/** What `GET /status` answers: this device, its releases, downloads and hand-over. */
export async function deviceStatus(
  device: Device,
  handover: Handover | undefined,
): Promise<object> {
  const releases = device.status().map(release => {
    const download = device.download(release.id)
    return { ...release, download: download?.stats() }
  })
  return {
    peerId: device.peerId.toString(),
    addresses: device.network.libp2p.getMultiaddrs().map(address => address.toString()),
    peers: device.network.libp2p.getPeers().map(peer => peer.toString()),
    releases,
    uploads: device.exchange.uploadStats(),
    handover: (await handover?.status()) ?? null,
  }
}

/**
 * The daemon's local HTTP API (loopback by default): `GET /status` as JSON.
 * Read-only; it changes nothing on the device.
 */
export async function startStatusApi(
  listen: string,
  device: Device,
  handover: () => Handover | undefined,
): Promise<StatusApi> {
  const match = /^(.*):(\d+)$/.exec(listen)
  if (match === null) throw new RangeError(`api: expected host:port, got "${listen}"`)
  const host = match[1]!.replace(/^\[|\]$/g, '')
  const port = Number(match[2])

  const server: Server = createServer((request, response) => {
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(JSON.stringify(body) + '\n')
    }
    if (request.method !== 'GET') return reply(405, { error: 'only GET is served' })
    if (request.url === '/status') {
      deviceStatus(device, handover()).then(
        status => reply(200, status),
        (err: Error) => reply(500, { error: err.message }),
      )
      return
    }
    reply(404, { error: `no such endpoint ${request.url}; try /status` })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const bound = server.address()
  const address = typeof bound === 'object' && bound !== null ? `${host}:${bound.port}` : listen
  return {
    address,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
