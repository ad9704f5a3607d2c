import assert from 'node:assert/strict'
import { generateKeyPairSync, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import canonicalize from 'canonicalize'
import { checkSignatures, parseRevision, type SignatureReport } from '../../src/revision/index.js'
import { statesDir } from '../fixtures.js'
import { smallRevision } from './helpers.js'

function fixtureState(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(statesDir, name), 'utf8')) as Record<string, unknown>
}

function reportsOf(state: Record<string, unknown>): Map<string, SignatureReport> {
  const reports = checkSignatures(parseRevision(JSON.stringify(state)))
  return new Map(reports.map(report => [report.key, report]))
}

const FULL = '01_rpi64_full_revision_signed.state.json'
const NGINX = '03_nginx_app_with_config_sig.state.json'

describe('checkSignatures on the signed fixture states', () => {
  it('verifies every signature of 01_… except the stale _sigs/_hostconfig.json', () => {
    const reports = reportsOf(fixtureState(FULL))
    assert.deepEqual(
      [...reports.keys()],
      [
        '_sigs/_hostconfig.json',
        '_sigs/awconnect.json',
        '_sigs/bsp.json',
        '_sigs/pv-avahi.json',
        '_sigs/pvr-sdk.json',
      ],
    )
    for (const [key, report] of reports) {
      assert.equal(
        report.valid,
        key !== '_sigs/_hostconfig.json',
        `${key}: ${report.reason ?? 'valid'}`,
      )
    }
  })

  it('reports the stale signature as covering nothing, with a reason', () => {
    const stale = reportsOf(fixtureState(FULL)).get('_sigs/_hostconfig.json')
    assert.deepEqual(stale?.covers, [])
    assert.match(stale?.reason ?? '', /covers no key/)
  })

  it('reports algorithm and x5c subject', () => {
    const bsp = reportsOf(fixtureState(FULL)).get('_sigs/bsp.json')
    assert.equal(bsp?.algorithm, 'RS256')
    assert.equal(bsp?.subject, 'CN=pv-developer-01')
  })

  it('covers the bsp keys, #spec and device.json, minus the excluded build.json and src.json', () => {
    const bsp = reportsOf(fixtureState(FULL)).get('_sigs/bsp.json')
    assert.deepEqual(bsp?.covers, [
      '#spec',
      'bsp/addon-plymouth.cpio.xz4',
      'bsp/drivers.json',
      'bsp/firmware.squashfs',
      'bsp/kernel.img',
      'bsp/modules.squashfs',
      'bsp/pantavisor',
      'bsp/run.json',
      'bsp/trail.config',
      'device.json',
    ])
  })

  it('covers a container and its _config overlay', () => {
    const covers = reportsOf(fixtureState(FULL)).get('_sigs/pv-avahi.json')?.covers
    assert.deepEqual(covers, [
      '_config/pv-avahi/etc/hostname',
      'pv-avahi/lxc.container.conf',
      'pv-avahi/root.squashfs',
      'pv-avahi/root.squashfs.docker-digest',
      'pv-avahi/run.json',
    ])
  })

  it('verifies both signatures of 03_…, one covering a single exact key', () => {
    const reports = reportsOf(fixtureState(NGINX))
    assert.equal(reports.get('_sigs/nginx.json')?.valid, true)
    assert.equal(reports.get('_sigs/nginx-config.json')?.valid, true)
    assert.deepEqual(reports.get('_sigs/nginx-config.json')?.covers, [
      '_config/nginx/something/to/something.txt',
    ])
  })

  it('reports none for a state without _sigs', () => {
    assert.deepEqual(checkSignatures(parseRevision(smallRevision().json)), [])
  })
})

describe('checkSignatures notices tampering', () => {
  it('fails the bsp signature when device.json changes, and only that one', () => {
    const state = fixtureState(FULL)
    const device = state['device.json'] as { groups: Array<{ timeout: number }> }
    device.groups[0]!.timeout = 31
    const reports = reportsOf(state)
    assert.equal(reports.get('_sigs/bsp.json')?.valid, false)
    assert.match(
      reports.get('_sigs/bsp.json')?.reason ?? '',
      /does not verify over the 10 covered keys/,
    )
    assert.equal(reports.get('_sigs/awconnect.json')?.valid, true)
  })

  it('fails a signature when a key it covers is added', () => {
    const state = fixtureState(NGINX)
    state['nginx/extra.conf'] = state['nginx/lxc.container.conf']
    assert.equal(reportsOf(state).get('_sigs/nginx.json')?.valid, false)
  })

  it('fails a signature whose value was swapped for another signature', () => {
    const state = fixtureState(NGINX)
    const other = state['_sigs/nginx-config.json'] as Record<string, string>
    ;(state['_sigs/nginx.json'] as Record<string, string>)['signature'] = other[
      'signature'
    ] as string
    assert.equal(reportsOf(state).get('_sigs/nginx.json')?.valid, false)
  })
})

/** A pvs@2 entry signed with a fresh EC key carried as a jwk (no x5c). */
function ecSigned(
  curve: 'P-256' | 'P-384',
  alg: 'ES256' | 'ES384',
  hash: 'sha256' | 'sha384',
): Record<string, unknown> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve })
  const { state } = smallRevision()
  const header = {
    alg,
    typ: 'PVS',
    jwk: publicKey.export({ format: 'jwk' }),
    pvs: { include: ['app/**'], exclude: ['app/src.json'] },
  }
  const protectedB64 = Buffer.from(JSON.stringify(header)).toString('base64url')
  // covered pairs in document order, as raw canonical text
  const keys = Object.keys(state)
    .filter(key => key.startsWith('app/'))
    .sort()
  const payload = `{${keys.map(key => `${JSON.stringify(key)}:${canonicalize(state[key])}`).join(',')}}`
  const input = `${protectedB64}.${Buffer.from(payload).toString('base64url')}`
  const signature = sign(hash, Buffer.from(input), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  }).toString('base64url')
  return { ...state, '_sigs/app.json': { '#spec': 'pvs@2', protected: protectedB64, signature } }
}

describe('checkSignatures with ECDSA (raw R‖S)', () => {
  it('verifies an ES256 signature', () => {
    const report = reportsOf(ecSigned('P-256', 'ES256', 'sha256')).get('_sigs/app.json')
    assert.equal(report?.valid, true, report?.reason)
    assert.equal(report?.algorithm, 'ES256')
    assert.deepEqual(report?.covers, [
      'app/lxc.container.conf',
      'app/root.squashfs',
      'app/run.json',
    ])
  })

  it('verifies an ES384 signature', () => {
    assert.equal(reportsOf(ecSigned('P-384', 'ES384', 'sha384')).get('_sigs/app.json')?.valid, true)
  })

  it('refuses an EC signature when a covered value changes', () => {
    const state = ecSigned('P-256', 'ES256', 'sha256')
    state['app/root.squashfs'] = state['app/lxc.container.conf']
    assert.equal(reportsOf(state).get('_sigs/app.json')?.valid, false)
  })
})

describe('checkSignatures reports unreadable headers', () => {
  function withHeader(header: unknown): SignatureReport | undefined {
    const protectedB64 = Buffer.from(JSON.stringify(header)).toString('base64url')
    const state = {
      ...smallRevision().state,
      '_sigs/app.json': { '#spec': 'pvs@2', protected: protectedB64, signature: 'AAAA' },
    }
    return reportsOf(state).get('_sigs/app.json')
  }

  it('refuses an unsupported alg, naming it', () => {
    const report = withHeader({ alg: 'HS256', typ: 'PVS', pvs: { include: ['**'], exclude: [] } })
    assert.equal(report?.valid, false)
    assert.match(report?.reason ?? '', /found "HS256"/)
  })

  it('refuses a typ other than PVS', () => {
    assert.match(
      withHeader({ alg: 'RS256', typ: 'JWT', pvs: { include: [], exclude: [] } })?.reason ?? '',
      /typ/,
    )
  })

  it('refuses a header without pvs include/exclude', () => {
    assert.match(withHeader({ alg: 'RS256', typ: 'PVS' })?.reason ?? '', /include and exclude/)
  })

  it('refuses a header with no key to verify against', () => {
    assert.match(
      withHeader({ alg: 'RS256', typ: 'PVS', pvs: { include: ['**'], exclude: [] } })?.reason ?? '',
      /x5c certificate or a jwk/,
    )
  })
})
