import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import type { DaemonConfig } from './config.js'
import type { DeviceNetwork } from './device.js'
import { loadOrCreateIdentity } from './identity.js'
import { createSwarmLibp2p } from './libp2p.js'

/** The libp2p node of a device, built from its daemon configuration. */
export async function buildNetwork(
  config: DaemonConfig,
  logger: Logger,
  allowHosts: string[] = [],
): Promise<DeviceNetwork> {
  const privateKey = await loadOrCreateIdentity(config.data, { logger })
  const libp2p = await createSwarmLibp2p({
    privateKey,
    listen: config.listen,
    announce: config.announce,
    allowPeers: config.allowPeer,
    dht: config.dht,
    allowHosts,
    logger,
  })
  return {
    libp2p,
    async start() {
      await libp2p.start()
      for (const peer of config.peer) {
        void libp2p
          .dial(multiaddr(peer))
          .catch(err => logger.warn({ peer, err: err.message }, 'dial failed'))
      }
    },
    stop: async () => {
      await libp2p.stop()
    },
  }
}
