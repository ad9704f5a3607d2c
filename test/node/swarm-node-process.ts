/**
 * One swarm node in a process of its own (a device of the simulated floor).
 * Config comes as JSON in argv[2] (see NodeProcessConfig); events go out as
 * JSON lines on stdout. SIGTERM stops the node and then lets the process end
 * by itself: it never calls process.exit, so a timer or socket left open by
 * the node shows up as a process that does not exit.
 */
import { createSwarmNode } from '../../src/node/index.js'
import type { NodeProcessConfig } from './swarm-helpers.js'

const config = JSON.parse(process.argv[2] ?? '{}') as NodeProcessConfig

function say(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`)
}

const node = await createSwarmNode({
  dataDir: config.dataDir,
  listen: config.listen ?? ['/ip4/0.0.0.0/tcp/0'],
  staticPeers: config.staticPeers,
  mdns: config.mdns ?? false,
  dht: config.dht,
  liveness: config.liveness,
  allowHosts: config.allowHosts,
})

node.discovery.on('peer:connected', ({ peerId }) =>
  say('peer:connected', { peerId: peerId.toString() }),
)
node.discovery.on('peer:disconnected', ({ peerId }) =>
  say('peer:disconnected', { peerId: peerId.toString() }),
)
node.discovery.on('peer:discovered', ({ peerId, source }) =>
  say('peer:discovered', { peerId: peerId.toString(), source }),
)
node.discovery.on('clone:suspected', suspicion => say('clone:suspected', { ...suspicion }))

const onTerm = (): void => {
  process.off('SIGTERM', onTerm)
  node
    .stop()
    .then(() => say('stopped'))
    .catch((err: Error) => {
      say('stop-failed', { message: err.message })
      process.exitCode = 1
    })
}
process.on('SIGTERM', onTerm)

await node.start()
say('started', {
  peerId: node.peerId.toString(),
  addresses: node.libp2p.getMultiaddrs().map(ma => ma.toString()),
  mdns: node.discovery.mdnsActive,
})
