import assert from 'node:assert/strict'
import { chmod, writeFile } from 'node:fs/promises'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Check, DoctorFacts } from '../../src/cli/doctor-checks.js'
import { generateFleetKey } from '../../src/node/index.js'
import { testFloor } from '../node/device-helpers.js'
import { assertOneLineFailure, removeDir, runCli, tempDir } from './helpers.js'

type DoctorJson = DoctorFacts & { checks: Check[] }

/** Short answer window: these tests do not rely on mDNS answers. */
const WAIT = ['--wait', '100']

async function doctorJson(args: string[]): Promise<DoctorJson> {
  const result = await runCli(['doctor', ...WAIT, '--json', ...args])
  const report = JSON.parse(result.stdout) as DoctorJson
  const failed = report.checks.filter(check => check.status === 'fail').map(check => check.id)
  assert.equal(
    result.code,
    failed.length > 0 ? 1 : 0,
    `doctor exits 1 when a check failed (${failed.join(', ') || 'none did'}), 0 even with warnings; stderr: ${result.stderr}`,
  )
  return report
}

function checksOf(report: DoctorJson, id: string): Check[] {
  return report.checks.filter(check => check.id === id)
}

describe('pvswarm doctor', () => {
  it('lists every interface address and marks the ones mDNS uses', async () => {
    const port = await unusedPort()
    const report = await doctorJson(['--api', `127.0.0.1:${port}`])
    const expected = Object.values(networkInterfaces()).flatMap(list => list ?? [])
    assert.equal(report.interfaces.length, expected.length)
    for (const i of report.interfaces) {
      assert.equal(i.usedByMdns, i.family === 'IPv4' && !i.internal, `${i.name} ${i.address}`)
    }
    const loopback = report.interfaces.find(i => i.address === '127.0.0.1')
    assert.equal(loopback?.usedByMdns, false)
    const used = report.interfaces.filter(i => i.usedByMdns)
    assert.deepEqual(
      report.probe.sent.map(s => s.address),
      used.map(i => i.address),
      'one query per mDNS address',
    )
    const interfaces = checksOf(report, 'interfaces')[0]
    assert.equal(interfaces?.status, used.length > 0 ? 'ok' : 'fail')
  })

  it('says when no daemon API answers, and exits 0', async () => {
    const port = await unusedPort()
    const result = await runCli(['doctor', ...WAIT, '--api', `127.0.0.1:${port}`])
    assert.equal(result.code, 0, result.stderr)
    assert.match(
      result.stdout,
      new RegExp(`^warn +api: no daemon API at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)$`, 'm'),
    )
    assert.match(result.stdout, /^ +hint: start the daemon with --api /m)
  })

  it("reports a reachable daemon's addresses, peers and floor", async t => {
    const floor = await testFloor(t)
    const running = await floor.start('lonely', { name: 'lonely', api: '127.0.0.1:0' })
    const api = running.api!.address
    const report = await doctorJson(['--api', api])
    assert.equal(report.api.reachable, true)
    if (!report.api.reachable) return
    assert.equal(report.api.peerId, running.device.peerId.toString())
    assert.equal(report.api.name, 'lonely')
    assert.ok(report.api.addresses.length > 0)
    assert.ok(report.api.addresses.every(a => a.startsWith('/ip4/127.0.0.1/tcp/')))
    assert.deepEqual(report.api.peers, [])
    assert.equal(report.api.floorDevices, 0)
    assert.equal(checksOf(report, 'api')[0]?.status, 'ok')
    const peers = checksOf(report, 'peers')[0]
    assert.equal(peers?.status, 'warn')
    assert.match(peers?.summary ?? '', /connected to no peer, 0 others on its floor/)
  })

  it('tells a good, a missing, a malformed and a too-open fleet key apart', async t => {
    const dir = await tempDir()
    t.after(() => removeDir(dir))
    const good = join(dir, 'good.key')
    await writeFile(good, generateFleetKey(), { mode: 0o600 })
    const open = join(dir, 'open.key')
    await writeFile(open, generateFleetKey())
    await chmod(open, 0o644)
    const bad = join(dir, 'bad.key')
    await writeFile(bad, '/key/swarm/psk/1.0.0/\n/base16/\nnot-hex\n', { mode: 0o600 })
    const port = await unusedPort()
    const keyCheck = async (path: string): Promise<Check | undefined> =>
      checksOf(
        await doctorJson(['--api', `127.0.0.1:${port}`, '--fleet-key', path]),
        'fleet-key',
      )[0]

    const [ok, tooOpen, missing, malformed] = await Promise.all(
      [good, open, join(dir, 'absent.key'), bad].map(keyCheck),
    )
    assert.equal(ok?.status, 'ok')
    assert.match(ok?.summary ?? '', /valid, mode 0600, fingerprint [0-9a-f]{16} /)
    assert.equal(tooOpen?.status, 'warn')
    assert.match(tooOpen?.hint ?? '', /chmod 600/)
    assert.equal(missing?.status, 'fail')
    assert.match(missing?.summary ?? '', /absent\.key: no such file/)
    assert.equal(malformed?.status, 'fail')
    assert.match(malformed?.summary ?? '', /expected 64 hex digits on the third line/)
    const none = checksOf(await doctorJson(['--api', `127.0.0.1:${port}`]), 'fleet-key')[0]
    assert.equal(none?.status, 'ok')
    assert.match(none?.summary ?? '', /none given/)
  })

  it('gives the same fingerprint for the same key, a different one for another', async t => {
    const dir = await tempDir()
    t.after(() => removeDir(dir))
    const key = generateFleetKey()
    const paths = ['a.key', 'b.key', 'c.key'].map(name => join(dir, name))
    await writeFile(paths[0]!, key, { mode: 0o600 })
    // the same key written with CRLF and no final newline is still the same key
    await writeFile(paths[1]!, new TextDecoder().decode(key).trim().replace(/\n/g, '\r\n'), {
      mode: 0o600,
    })
    await writeFile(paths[2]!, generateFleetKey(), { mode: 0o600 })
    const fingerprints = await Promise.all(
      paths.map(async path => {
        const report = await doctorJson(['--api', '127.0.0.1:1', '--fleet-key', path])
        return report.fleetKey.given && 'fingerprint' in report.fleetKey
          ? report.fleetKey.fingerprint
          : undefined
      }),
    )
    assert.ok(fingerprints[0] !== undefined)
    assert.equal(fingerprints[1], fingerprints[0])
    assert.notEqual(fingerprints[2], fingerprints[0])
  })

  it('fails in one line only when it cannot run at all', async () => {
    assertOneLineFailure(
      await runCli(['doctor', '--api', 'nowhere']),
      /--api: expected host:port, got "nowhere"/,
    )
    assertOneLineFailure(
      await runCli(['doctor', '--data', '/nonexistent/pvswarm-data']),
      /--data: \/nonexistent\/pvswarm-data is not a directory/,
    )
  })
})

/** A loopback TCP port nothing listens on (bound, then released). */
async function unusedPort(): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise(resolve => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}
