import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseHostPort } from '../../src/util/host-port.js'

describe('parseHostPort', () => {
  it('takes host:port, an IPv6 host in brackets, and the ports 0 to 65535', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8222'), { host: '127.0.0.1', port: 8222 })
    assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 })
    assert.deepEqual(parseHostPort('localhost:65535'), { host: 'localhost', port: 65535 })
  })

  it('refuses a missing host or port, a port beyond 65535, slashes and spaces', () => {
    for (const text of ['8231', ':8222', '127.0.0.1:', '127.0.0.1:65536', 'a/b:1', 'a b:1']) {
      assert.equal(parseHostPort(text), undefined, text)
    }
  })
})
