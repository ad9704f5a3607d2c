import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { isSha256Hex } from '../util/hex.js'
import { InvalidObjectIdError } from './errors.js'

/** What provider look-ups need of a node: a `SwarmNode` fits. */
export interface RoutingNode {
  libp2p: Pick<Libp2p, 'contentRouting' | 'peerId' | 'peerStore'>
}

export interface ObjectProvider {
  peerId: PeerId
  /** Addresses the DHT reported for it (already added to the peer store). */
  multiaddrs: Multiaddr[]
}

export interface FindProvidersOptions extends AbortOptions {
  /** The look-up ends quietly after this long, with whatever was found. @default 30_000 */
  timeoutMs?: number
}

const DEFAULT_FIND_TIMEOUT_MS = 30_000

/**
 * The content id of a Pantavisor object in libp2p routing: CIDv1, `raw`
 * codec, sha2-256 multihash of the object's bytes.
 *
 * @throws InvalidObjectIdError unless `sha256hex` is 64 lowercase hex digits
 */
export function objectCid(sha256hex: string): CID {
  if (!isSha256Hex(sha256hex)) {
    const found = String(sha256hex as unknown)
    throw new InvalidObjectIdError(
      `object id: expected 64 lowercase hex digits (sha256), found ${JSON.stringify(
        found.length > 80 ? `${found.slice(0, 80)}…` : found,
      )}`,
    )
  }
  const digest = Digest.create(sha256.code, Buffer.from(sha256hex, 'hex'))
  return CID.createV1(raw.code, digest)
}

/**
 * Announces in the DHT that this node holds the object. Resolves once the
 * provider record sits with the closest peers found; it waits for the DHT to
 * have at least one peer, so bound it with `signal`.
 */
export async function provideObject(
  node: RoutingNode,
  sha256hex: string,
  options: AbortOptions = {},
): Promise<void> {
  await node.libp2p.contentRouting.provide(objectCid(sha256hex), options)
}

/**
 * Peers the DHT names as holders of the object, each once, never this node.
 * Ends when the look-up is exhausted or after `timeoutMs`; throws only when
 * the caller's `signal` aborts.
 */
export async function* findObjectProviders(
  node: RoutingNode,
  sha256hex: string,
  options: FindProvidersOptions = {},
): AsyncGenerator<ObjectProvider> {
  const cid = objectCid(sha256hex)
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), options.timeoutMs ?? DEFAULT_FIND_TIMEOUT_MS)
  // Aborted when the caller stops iterating early, so the DHT query stops too.
  const finished = new AbortController()
  const signals = [timeout.signal, finished.signal]
  const signal = AbortSignal.any(options.signal == null ? signals : [options.signal, ...signals])
  const seen = new Set<string>([node.libp2p.peerId.toString()])

  try {
    for await (const provider of node.libp2p.contentRouting.findProviders(cid, { signal })) {
      const id = provider.id.toString()
      if (seen.has(id)) {
        continue
      }
      seen.add(id)
      if (provider.multiaddrs.length > 0) {
        await node.libp2p.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs })
      }
      yield { peerId: provider.id, multiaddrs: provider.multiaddrs }
    }
  } catch (err) {
    if (timeout.signal.aborted && options.signal?.aborted !== true) {
      return
    }
    throw err
  } finally {
    clearTimeout(timer)
    finished.abort()
  }
}
