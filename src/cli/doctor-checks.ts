import type { InterfaceAddress, MdnsProbe } from '../discovery/index.js'
import { shortPeer } from './api-client.js'

/** One line of `pvswarm doctor`. */
export interface Check {
  /** what was looked at: `interfaces`, `mdns:send`, `mdns:answers`, `api`, `fleet-key`, … */
  id: string
  status: 'ok' | 'warn' | 'fail'
  summary: string
  /** how to fix it; absent when there is nothing to fix */
  hint?: string
}

/** What `pvswarm doctor` found about the fleet key file. */
export type FleetKeyFacts =
  | { given: false }
  | { given: true; path: string; error: 'missing' | 'unreadable' | 'format'; message: string }
  | { given: true; path: string; mode: number; fingerprint: string }

/** What the daemon's `GET /status` answered, or why it did not. */
export type ApiFacts =
  | { reachable: false; api: string; reason: string }
  | {
      reachable: true
      api: string
      peerId: string
      name?: string
      addresses: string[]
      peers: string[]
      /** devices on its floor view, other than itself; absent when it has no floor view */
      floorDevices?: number
    }

export interface DoctorFacts {
  interfaces: InterfaceAddress[]
  probe: MdnsProbe
  api: ApiFacts
  fleetKey: FleetKeyFacts
  /** the data directory's peer id, when --data named one that has an identity */
  selfPeerId?: string
}

const MULTICAST_HINT =
  'answers need UDP 5353 to and from 224.0.0.251 on this link: check the firewall, Wi-Fi client ' +
  'isolation and switch IGMP snooping; without multicast give devices --peer <multiaddr>'

/** Turns what doctor found into its lines, in the order a person would check them. */
export function doctorChecks(facts: DoctorFacts): Check[] {
  return [
    interfacesCheck(facts.interfaces),
    ...sendChecks(facts.probe),
    answersCheck(facts),
    ...apiChecks(facts),
    fleetKeyCheck(facts.fleetKey),
  ]
}

function interfacesCheck(interfaces: InterfaceAddress[]): Check {
  const used = interfaces.filter(i => i.usedByMdns)
  if (used.length === 0) {
    return {
      id: 'interfaces',
      status: 'fail',
      summary: 'no non-loopback IPv4 address: mDNS has no link to ask on',
      hint: 'bring a network interface up with an IPv4 address (DHCP or static)',
    }
  }
  const list = used.map(i => `${i.name} ${i.address}`).join(', ')
  return { id: 'interfaces', status: 'ok', summary: `mDNS uses ${list}` }
}

function sendChecks(probe: MdnsProbe): Check[] {
  return probe.sent.map(sent =>
    sent.error === undefined
      ? { id: 'mdns:send', status: 'ok', summary: `query left on ${sent.address}` }
      : {
          id: 'mdns:send',
          status: 'fail',
          summary: `query could not leave on ${sent.address}: ${sent.error}`,
          hint: 'the interface needs a multicast route, e.g. ip route add 224.0.0.0/4 dev <if>',
        },
  )
}

function answersCheck(facts: DoctorFacts): Check {
  const { probe } = facts
  const others = probe.answers.filter(a => a.peerId !== facts.selfPeerId)
  const invalid =
    probe.invalid.length === 0
      ? ''
      : `; ${probe.invalid.length} unreadable (${probe.invalid[0]!.from}: ${probe.invalid[0]!.reason})`
  if (!probe.sent.some(s => s.error === undefined)) {
    return { id: 'mdns:answers', status: 'warn', summary: 'no query left, so none was answered' }
  }
  if (others.length === 0) {
    const own = probe.answers.length > others.length ? ' (only this device answered)' : ''
    return {
      id: 'mdns:answers',
      status: 'warn',
      summary: `no other pvswarm device answered within the wait${own}${invalid}`,
      hint: `start the daemon with mDNS on the other devices; ${MULTICAST_HINT}`,
    }
  }
  const list = others.map(a => `${shortPeer(a.peerId)} from ${a.from}`).join(', ')
  return {
    id: 'mdns:answers',
    status: 'ok',
    summary: `${others.length} answered: ${list}${invalid}`,
  }
}

function apiChecks(facts: DoctorFacts): Check[] {
  const { api } = facts
  if (!api.reachable) {
    return [
      {
        id: 'api',
        status: 'warn',
        summary: `no daemon API at ${api.api} (${api.reason})`,
        hint: `start the daemon with --api ${api.api}, or point doctor at it with --api host:port`,
      },
    ]
  }
  const who = `${api.name ?? '?'} ${shortPeer(api.peerId)}`
  const checks: Check[] = [
    {
      id: 'api',
      status: 'ok',
      summary: `daemon ${who} listens on ${api.addresses.join(', ') || 'nothing'}`,
    },
  ]
  if (facts.selfPeerId !== undefined && facts.selfPeerId !== api.peerId) {
    checks.push({
      id: 'api',
      status: 'warn',
      summary: `the API belongs to ${shortPeer(api.peerId)}, not to --data's ${shortPeer(facts.selfPeerId)}`,
      hint: 'point --api or --data at the same device',
    })
  }
  const floor = api.floorDevices === undefined ? '' : `, ${api.floorDevices} others on its floor`
  checks.push(
    api.peers.length === 0
      ? {
          id: 'peers',
          status: 'warn',
          summary: `daemon is connected to no peer${floor}`,
          hint: 'see the mDNS lines above; a different fleet key also keeps peers apart',
        }
      : {
          id: 'peers',
          status: 'ok',
          summary: `daemon is connected to ${api.peers.length}${floor}`,
        },
  )
  const unconnected = facts.probe.answers.filter(
    a => a.peerId !== api.peerId && !api.peers.includes(a.peerId),
  )
  if (unconnected.length > 0) {
    checks.push({
      id: 'peers',
      status: 'warn',
      summary: `answered mDNS but not connected: ${unconnected.map(a => shortPeer(a.peerId)).join(', ')}`,
      hint:
        'compare fleet key fingerprints on both devices, check --allow-peer, and that their ' +
        'announced TCP ports are reachable from here',
    })
  }
  return checks
}

function fleetKeyCheck(key: FleetKeyFacts): Check {
  if (!key.given) {
    return {
      id: 'fleet-key',
      status: 'ok',
      summary:
        'none given, not checked (devices using a fleet key talk only to devices with the same one)',
    }
  }
  if ('error' in key) {
    const hint =
      key.error === 'missing'
        ? 'copy the fleet key file to this device, or fix the path'
        : key.error === 'unreadable'
          ? 'make the file readable by the user the daemon runs as'
          : 'the file must be the 3-line swarm.key form: /key/swarm/psk/1.0.0/, /base16/, 64 hex digits'
    return { id: 'fleet-key', status: 'fail', summary: key.message, hint }
  }
  const mode = (key.mode & 0o777).toString(8).padStart(4, '0')
  const summary = `${key.path} valid, mode ${mode}, fingerprint ${key.fingerprint} (must match on every device)`
  if ((key.mode & 0o077) !== 0) {
    return {
      id: 'fleet-key',
      status: 'warn',
      summary,
      hint: `other users can read the fleet secret: chmod 600 ${key.path}`,
    }
  }
  return { id: 'fleet-key', status: 'ok', summary }
}
