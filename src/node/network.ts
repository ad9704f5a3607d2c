import type { Logger } from 'pino'
import type { DaemonConfig } from './config.js'
import type { DeviceNetwork } from './device.js'
import { readFleetKey } from './fleet-key.js'
import { createSwarmNode } from './swarm-node.js'

/** The libp2p node of a device (identity, transports, discovery), from its daemon configuration. */
export async function buildNetwork(
  config: DaemonConfig,
  logger: Logger,
  allowHosts: string[] = [],
): Promise<DeviceNetwork> {
  const node = await createSwarmNode({
    dataDir: config.data,
    listen: config.listen,
    announce: config.announce,
    fleetKey: config.fleetKey === undefined ? undefined : await readFleetKey(config.fleetKey),
    allowPeers: config.allowPeer,
    mdns: config.mdns,
    staticPeers: config.peer,
    dht: config.dht,
    allowHosts,
    logger: logger.child({ room: 'node' }),
  })
  return {
    libp2p: node.libp2p,
    start: () => node.start(),
    stop: () => node.stop(),
    notePeerActivity: peer => node.discovery.noteActivity(peer),
  }
}
