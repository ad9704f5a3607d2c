import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { SwarmNodeOptionsError } from './errors.js'

/**
 * A connection gater that lets only the fleet's listed peers in or out.
 *
 * Identities are checked where libp2p first knows them for certain: after
 * the security handshake (`deny*EncryptedConnection`), so a stranger cannot
 * pass by claiming a listed id in a multiaddr. Dials to unlisted ids are
 * refused before any socket is opened. This costs nothing per byte, unlike
 * the fleet key (pnet), but strangers still reach the security handshake.
 *
 * @param allowPeers - peer id strings; empty means anyone is let through
 * @throws SwarmNodeOptionsError naming an entry that is not a peer id
 */
export function allowlistGater(allowPeers: readonly string[], logger?: Logger): ConnectionGater {
  if (allowPeers.length === 0) {
    return {}
  }
  const allowed = new Set(allowPeers.map(parseAllowedPeer))
  const refuse = (direction: string) => (peerId: PeerId) => {
    const id = peerId.toString()
    if (allowed.has(id)) {
      return false
    }
    logger?.warn({ peer: id, direction }, 'connection refused: peer is not in allowPeers')
    return true
  }

  return {
    denyDialPeer: peerId => !allowed.has(peerId.toString()),
    denyInboundEncryptedConnection: refuse('inbound'),
    denyOutboundEncryptedConnection: refuse('outbound'),
  }
}

function parseAllowedPeer(entry: string, index: number): string {
  try {
    return peerIdFromString(entry).toString()
  } catch (err) {
    throw new SwarmNodeOptionsError(
      `allowPeers[${index}]: expected a libp2p peer id, found ${JSON.stringify(entry)}`,
      { cause: err },
    )
  }
}
