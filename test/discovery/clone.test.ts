import assert from 'node:assert/strict'
import { networkInterfaces } from 'node:os'
import { test } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { isOwnAddress } from '../../src/discovery/clone.js'

const own = [
  multiaddr('/ip4/192.0.2.10/tcp/4001/p2p/12D3KooWLUhWuDHWcgiUgvAQyxMvWi5mqwoQBc8vXGrFpUySDYW5'),
]

test('an address with our host and port is ours', () => {
  assert.ok(isOwnAddress(multiaddr('/ip4/192.0.2.10/tcp/4001'), own))
})

test('loopback or the unspecified address on our port is ours', () => {
  assert.ok(isOwnAddress(multiaddr('/ip4/127.0.0.1/tcp/4001'), own))
  assert.ok(isOwnAddress(multiaddr('/ip4/0.0.0.0/tcp/4001'), own))
})

test('a local interface address on our port is ours even if libp2p did not list it', () => {
  const local = Object.values(networkInterfaces())
    .flatMap(list => list ?? [])
    .find(i => i.family === 'IPv4')
  assert.ok(local != null, 'this machine has an IPv4 interface')

  assert.ok(isOwnAddress(multiaddr(`/ip4/${local.address}/tcp/4001`), own))
})

test('another port, or a host that is not ours, is not ours', () => {
  assert.equal(isOwnAddress(multiaddr('/ip4/192.0.2.10/tcp/4002'), own), false)
  assert.equal(isOwnAddress(multiaddr('/ip4/198.51.100.7/tcp/4001'), own), false)
  assert.equal(isOwnAddress(multiaddr('/dns4/example.org/tcp/4001'), own), false)
})
