/**
 * @packageDocumentation
 * Finding peers and keeping the connections to them honest.
 *
 * - `PeerDiscoveryService`: mDNS on the LAN (jittered), static peers
 *   (redialled with backoff), dialling of what was found, ping liveness, and
 *   detection of a second device using this node's identity. Subscribe with
 *   `service.on('peer:connected' | 'peer:disconnected' | 'peer:discovered' |
 *   'peer:unresponsive' | 'clone:suspected', …)`.
 * - `interfaceAddresses` and `probeMdns`: what `pvswarm doctor` asks of the LAN, by the
 *   same interface rule and records mDNS runs by.
 * - DHT provider records for objects: `objectCid`, `provideObject`,
 *   `findObjectProviders`.
 *
 * It moves no content; the exchange room does.
 */
export {
  PeerDiscoveryService,
  type DiscoveryEvents,
  type DiscoveryLibp2p,
  type DiscoveryOptions,
  type PeerDiscoveredEvent,
  type PeerEvent,
  type PeerUnresponsiveEvent,
} from './service.js'
export { MDNS_DEFAULTS, type MdnsOptions } from './mdns.js'
export {
  interfaceAddresses,
  probeMdns,
  type InterfaceAddress,
  type MdnsProbe,
  type MdnsProbeOptions,
  type ProbeAnswer,
  type ProbeSend,
} from './diagnose.js'
export { LIVENESS_DEFAULTS, type LivenessOptions } from './liveness.js'
export { CLONE_MESSAGE, type CloneSuspicion } from './clone.js'
export {
  findObjectProviders,
  objectCid,
  provideObject,
  type FindProvidersOptions,
  type ObjectProvider,
  type RoutingNode,
} from './providers.js'
export {
  DiscoveryOptionsError,
  InvalidObjectIdError,
  InvalidStaticPeerError,
  PeerUnresponsiveError,
} from './errors.js'
