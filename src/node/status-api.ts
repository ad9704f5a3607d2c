import { parseHostPort } from '../util/host-port.js'
import { ApiListenError } from './errors.js'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Handover } from '../pantavisor/index.js'
import type { Device } from './device.js'
import { FLEET_PAGE_HTML } from './fleet-page.js'
import type { OperatorViews } from './operator.js'

export interface StatusApi {
  /** the address it listens on, host:port */
  address: string
  close(): Promise<void>
}

/** What `GET /status` answers: this device, its releases, downloads and hand-over. */
export async function deviceStatus(
  device: Device,
  handover: Handover | undefined,
  views?: OperatorViews,
): Promise<object> {
  const releases = device.status().map(release => {
    const download = views?.downloads.view(release.id) ?? device.download(release.id)?.stats()
    return { ...release, download }
  })
  return {
    peerId: device.peerId.toString(),
    name: views?.name,
    addresses: device.network.libp2p.getMultiaddrs().map(address => address.toString()),
    peers: device.network.libp2p.getPeers().map(peer => peer.toString()),
    releases,
    uploads: device.exchange.uploadStats(),
    handover: (await handover?.status()) ?? null,
  }
}

/** What `GET /floor` answers: every device this one knows of. */
export function floorStatus(device: Device, views: OperatorViews): object {
  return { self: device.peerId.toString(), atMs: Date.now(), devices: views.floor.rows() }
}

/**
 * The daemon's local HTTP API (loopback by default). Read-only; it changes nothing on the device.
 *
 * - `GET /status`: this device as JSON
 * - `GET /floor`: the floor as JSON (with operator views)
 * - `GET /metrics`: Prometheus text (with operator views)
 * - `GET /`: the fleet page (with operator views)
 */
export async function startStatusApi(
  listen: string,
  device: Device,
  handover: () => Handover | undefined,
  views?: OperatorViews,
): Promise<StatusApi> {
  const requested = parseHostPort(listen)
  if (requested === undefined) throw new RangeError(`api: expected host:port, got "${listen}"`)
  const { host, port } = requested

  const server: Server = createServer((request, response) => {
    route(request, response, device, handover, views).catch((err: Error) => {
      if (!response.headersSent) send(response, 500, 'application/json', { error: err.message })
      else response.destroy(err)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code === 'EADDRINUSE' ? 'address already in use' : err.message
      reject(
        new ApiListenError(`status API: cannot listen on ${listen}: ${reason}`, { cause: err }),
      )
    })
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

const JSON_TYPE = 'application/json'

async function route(
  request: IncomingMessage,
  response: ServerResponse,
  device: Device,
  handover: () => Handover | undefined,
  views: OperatorViews | undefined,
): Promise<void> {
  if (request.method !== 'GET')
    return send(response, 405, JSON_TYPE, { error: 'only GET is served' })
  const path = new URL(request.url ?? '/', 'http://api').pathname
  if (path === '/status') {
    return send(response, 200, JSON_TYPE, await deviceStatus(device, handover(), views))
  }
  if (views !== undefined) {
    if (path === '/floor') return send(response, 200, JSON_TYPE, floorStatus(device, views))
    if (path === '/metrics') {
      return send(response, 200, views.metrics.contentType, await views.metrics.text())
    }
    if (path === '/') return send(response, 200, 'text/html; charset=utf-8', FLEET_PAGE_HTML)
  }
  const endpoints = views === undefined ? '/status' : '/, /status, /floor, /metrics'
  send(response, 404, JSON_TYPE, { error: `no such endpoint ${path}; try ${endpoints}` })
}

function send(response: ServerResponse, status: number, type: string, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body) + '\n'
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  response.end(text)
}
