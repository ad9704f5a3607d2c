import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { doctorChecks, type DoctorFacts } from '../../src/cli/doctor-checks.js'

const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelf'
const NEAR = '12D3KooWNearNearNearNearNearNearNearNearNear'
const FAR = '12D3KooWFarFarFarFarFarFarFarFarFarFarFarFar'

function facts(overrides: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    interfaces: [
      { name: 'lo', family: 'IPv4', address: '127.0.0.1', internal: true, usedByMdns: false },
      { name: 'eth0', family: 'IPv4', address: '10.0.0.5', internal: false, usedByMdns: true },
    ],
    probe: { sent: [{ address: '10.0.0.5' }], answers: [], invalid: [] },
    api: { reachable: false, api: '127.0.0.1:8222', reason: 'ECONNREFUSED' },
    fleetKey: { given: false },
    ...overrides,
  }
}

function answer(peerId: string, from: string) {
  return { peerId, instance: `pvswarm-${from}`, from, multiaddrs: [`/ip4/${from}/tcp/4001`] }
}

describe('doctor checks', () => {
  it('fails the interfaces line when mDNS has no address to use', () => {
    const checks = doctorChecks(
      facts({
        interfaces: [
          { name: 'lo', family: 'IPv4', address: '127.0.0.1', internal: true, usedByMdns: false },
        ],
        probe: { sent: [], answers: [], invalid: [] },
      }),
    )
    assert.equal(checks[0]?.id, 'interfaces')
    assert.equal(checks[0]?.status, 'fail')
    assert.equal(checks.find(c => c.id === 'mdns:answers')?.status, 'warn')
  })

  it('fails a query that could not leave, naming the address and a route hint', () => {
    const checks = doctorChecks(
      facts({
        probe: {
          sent: [{ address: '10.0.0.5', error: 'send ENETUNREACH' }],
          answers: [],
          invalid: [],
        },
      }),
    )
    const send = checks.find(c => c.id === 'mdns:send')
    assert.equal(send?.status, 'fail')
    assert.match(send?.summary ?? '', /10\.0\.0\.5: send ENETUNREACH/)
    assert.match(send?.hint ?? '', /224\.0\.0\.0\/4/)
  })

  it('does not count this device answering itself as a peer', () => {
    const checks = doctorChecks(
      facts({
        selfPeerId: SELF,
        probe: {
          sent: [{ address: '10.0.0.5' }],
          answers: [answer(SELF, '10.0.0.5')],
          invalid: [],
        },
      }),
    )
    const answers = checks.find(c => c.id === 'mdns:answers')
    assert.equal(answers?.status, 'warn')
    assert.match(answers?.summary ?? '', /only this device answered/)
  })

  it('warns about peers that answer mDNS but the daemon is not connected to', () => {
    const checks = doctorChecks(
      facts({
        probe: {
          sent: [{ address: '10.0.0.5' }],
          answers: [answer(SELF, '10.0.0.5'), answer(NEAR, '10.0.0.6'), answer(FAR, '10.0.0.7')],
          invalid: [],
        },
        api: {
          reachable: true,
          api: '127.0.0.1:8222',
          peerId: SELF,
          addresses: ['/ip4/10.0.0.5/tcp/4001'],
          peers: [NEAR],
        },
      }),
    )
    assert.equal(checks.find(c => c.id === 'mdns:answers')?.status, 'ok')
    const peers = checks.filter(c => c.id === 'peers')
    assert.deepEqual(
      peers.map(c => c.status),
      ['ok', 'warn'],
    )
    assert.match(peers[1]?.summary ?? '', /answered mDNS but not connected: 12D3Ko…FarFar$/)
    assert.match(peers[1]?.hint ?? '', /fleet key fingerprints/)
  })

  it('warns when the API and --data are two different devices', () => {
    const checks = doctorChecks(
      facts({
        selfPeerId: NEAR,
        api: { reachable: true, api: '127.0.0.1:8222', peerId: SELF, addresses: [], peers: [] },
      }),
    )
    const api = checks.filter(c => c.id === 'api')
    assert.deepEqual(
      api.map(c => c.status),
      ['ok', 'warn'],
    )
    assert.match(api[1]?.summary ?? '', /not to --data's/)
  })
})
