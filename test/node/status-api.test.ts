import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { revisionFixture } from '../fixtures.js'
import { addressOf, fixtureRelease, testFloor } from './device-helpers.js'
import { FAST_FLOOR, floorShows, until } from './operator-helpers.js'
import type { RunningDevice } from '../../src/node/daemon.js'

async function get(device: RunningDevice, path: string, method = 'GET') {
  const response = await fetch(`http://${device.api!.address}${path}`, { method })
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    text: await response.text(),
  }
}

async function getJson<T>(device: RunningDevice, path: string): Promise<T> {
  const { status, text } = await get(device, path)
  assert.equal(status, 200, `${path}: ${text}`)
  return JSON.parse(text) as T
}

/** The value of one series in Prometheus text, e.g. `pvswarm_peers` or `x{kind="seed"}`. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find(l => l.startsWith(series + ' '))
  assert.ok(line !== undefined, `series ${series} present`)
  return Number(line.slice(series.length + 1))
}

describe('status API', () => {
  it('answers status, floor, metrics and the fleet page while a release spreads', async t => {
    const floor = await testFloor(t)
    const api = { api: '127.0.0.1:0' }
    const seed = await floor.start('seed', { ...api, name: 'seed' }, FAST_FLOOR)
    const peer = await floor.start(
      'peer',
      { ...api, name: 'peer', peer: [addressOf(seed)] },
      FAST_FLOOR,
    )
    const release = await fixtureRelease('rev1', floor.key, 3, 'floor', 64 * 1024)
    const id = await seed.device.seed(release, revisionFixture('rev1'))
    await until(
      peer.device,
      'download:complete',
      () => peer.device.releases.record(id)?.phase === 'complete',
      'the peer to complete',
    )
    await floorShows(seed, peer, row => row.newest?.phase === 'complete', 'seed to see peer done')

    const status = await getJson<{
      peerId: string
      name: string
      peers: string[]
      releases: Array<{ id: string; phase: string; sequence: number }>
    }>(peer, '/status')
    assert.equal(status.peerId, peer.device.peerId.toString())
    assert.equal(status.name, 'peer')
    assert.deepEqual(status.peers, [seed.device.peerId.toString()])
    assert.deepEqual(
      status.releases.map(r => [r.id, r.phase, r.sequence]),
      [[id, 'complete', 3]],
    )

    const floorView = await getJson<{
      self: string
      devices: Array<{ name: string; self: boolean; newest: { phase: string } | null }>
    }>(seed, '/floor')
    assert.equal(floorView.self, seed.device.peerId.toString())
    assert.deepEqual(
      floorView.devices.map(d => [d.name, d.self, d.newest?.phase]),
      [
        ['peer', false, 'complete'],
        ['seed', true, 'complete'],
      ],
    )

    const chunksTotal = release.objects.reduce(
      (n, o) => n + Math.max(1, Math.ceil(o.size / release.chunkBytes)),
      0,
    )
    const bytesTotal = release.objects.reduce((n, o) => n + o.size, 0)
    const peerMetrics = await get(peer, '/metrics')
    assert.equal(peerMetrics.status, 200)
    assert.match(peerMetrics.type ?? '', /^text\/plain/)
    const text = peerMetrics.text
    for (const name of [
      'pvswarm_bytes_received_total',
      'pvswarm_bytes_sent_total',
      'pvswarm_chunks_verified_total',
      'pvswarm_chunks_rejected_total',
      'pvswarm_peer_bans_total',
      'pvswarm_peers',
      'pvswarm_releases',
      'pvswarm_releases_refused_total',
      'pvswarm_handovers_started_total',
      'pvswarm_trial_outcomes_total',
      'pvswarm_floor_devices',
    ]) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has a help text`)
    }
    assert.equal(sample(text, 'pvswarm_chunks_verified_total'), chunksTotal)
    assert.equal(
      sample(text, 'pvswarm_bytes_received_total{kind="seed"}') +
        sample(text, 'pvswarm_bytes_received_total{kind="peer"}'),
      bytesTotal,
    )
    assert.equal(sample(text, 'pvswarm_peers'), 1)
    assert.equal(sample(text, 'pvswarm_releases{state="complete"}'), 1)
    assert.equal(sample(text, 'pvswarm_releases{state="downloading"}'), 0)
    assert.equal(sample(text, 'pvswarm_floor_devices'), 2)

    const seedMetrics = (await get(seed, '/metrics')).text
    assert.equal(sample(seedMetrics, 'pvswarm_bytes_sent_total{kind="seed"}'), bytesTotal)
    assert.equal(sample(seedMetrics, 'pvswarm_bytes_sent_total{kind="peer"}'), 0)

    const page = await get(seed, '/')
    assert.equal(page.status, 200)
    assert.match(page.type ?? '', /^text\/html/)
    assert.match(page.text, /<title>pvswarm floor<\/title>/)
    assert.doesNotMatch(page.text, /<(script|link)[^>]+(src|href)=/, 'no external assets')
  })

  it('keeps each device’s metrics apart in one process', async t => {
    const floor = await testFloor(t)
    const one = await floor.start('one', { api: '127.0.0.1:0' })
    const two = await floor.start('two', { api: '127.0.0.1:0' })
    const id = await one.device.seed(
      await fixtureRelease('rev1', floor.key, 1),
      revisionFixture('rev1'),
    )
    await until(
      one.device,
      'download:complete',
      () => one.device.releases.record(id)?.phase === 'complete',
      'the seed to settle its own release',
    )
    assert.equal(sample((await get(one, '/metrics')).text, 'pvswarm_releases{state="complete"}'), 1)
    assert.equal(sample((await get(two, '/metrics')).text, 'pvswarm_releases{state="complete"}'), 0)
  })

  it('answers unknown paths with 404 and other methods with 405', async t => {
    const floor = await testFloor(t)
    const device = await floor.start('one', { api: '127.0.0.1:0' })
    const missing = await get(device, '/nope')
    assert.equal(missing.status, 404)
    assert.match(missing.text, /no such endpoint \/nope/)
    assert.equal((await get(device, '/status', 'POST')).status, 405)
  })
})
