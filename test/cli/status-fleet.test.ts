import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import { revisionFixture } from '../fixtures.js'
import { addressOf, fixtureRelease, testFloor } from '../node/device-helpers.js'
import { FAST_FLOOR, floorShows, until } from '../node/operator-helpers.js'
import { runCli, FIXTURE_OBJECTS } from './helpers.js'

describe('pvswarm status and fleet', () => {
  it('show a download in progress and the floor, from a running device', async t => {
    const floor = await testFloor(t)
    // a slow seed keeps the download going while the commands look at it: rev1 takes ~80 s at
    // 256 KiB/s, and on a loaded machine the five CLI runs below took 45 s (at 1 MiB/s the
    // download had ended before the last of them)
    const seed = await floor.start(
      'seed',
      { name: 'seed-box', uploadRateBytesPerSecond: 256 * 1024 },
      FAST_FLOOR,
    )
    const peer = await floor.start(
      'peer',
      { name: 'line-3', api: '127.0.0.1:0', peer: [addressOf(seed)] },
      FAST_FLOOR,
    )
    const release = await fixtureRelease('rev1', floor.key, 5, 'floor', 256 * 1024)
    const id = await seed.device.seed(release, revisionFixture('rev1'))
    await until(
      peer.device,
      'download:started',
      () => peer.device.download(id) !== undefined,
      'the download',
    )
    const download = peer.device.download(id)!
    await until(download, 'progress', () => download.stats().chunksDone > 0, 'a first chunk')
    await floorShows(peer, seed, row => row.newest?.releaseId === id, 'peer to see the seed')
    const api = peer.api!.address

    const human = await runCli(['status', '--api', api])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /device {2}line-3/)
    assert.match(human.stdout, /release #5 .* floor: downloading/)
    assert.match(
      human.stdout,
      /#5 total +\S+ +\d+% \| [\d.]+ \S+\/[\d.]+ MiB \| .*\/s \| ETA .* \| 1 peers serving/,
    )
    const objectLines = human.stdout.split('\n').filter(line => /^  [0-9a-f]{12} /.test(line))
    assert.ok(objectLines.length >= 1, 'a bar per unfinished object')
    for (const line of objectLines) assert.match(line, /\d+% \| \d+\/\d+ chunks of /)

    const json = await runCli(['status', '--api', api, '--json'])
    assert.equal(json.code, 0, json.stderr)
    const status = JSON.parse(json.stdout) as {
      releases: Array<{ id: string; download: { objects: unknown[]; chunksTotal: number } }>
    }
    assert.equal(status.releases[0]?.id, id)
    assert.equal(status.releases[0]?.download.objects.length, FIXTURE_OBJECTS)

    const watched = await runCli(['status', '--api', api, '--watch', '--updates', '2'])
    assert.equal(watched.code, 0, watched.stderr)
    assert.match(watched.stdout, /#5 total/)

    const table = await runCli(['fleet', '--api', api])
    assert.equal(table.code, 0, table.stderr)
    const lines = table.stdout.trim().split('\n')
    assert.match(
      lines[0]!,
      /^DEVICE +PEER +FLEET +INSTALLED +NEWEST +PROGRESS +STATE +TRIAL +SEEN$/,
    )
    assert.match(lines[1]!, /^line-3 \* .* floor +— +#5 +\d+% +downloading +— +self$/)
    assert.match(lines[2]!, /^seed-box .* floor +— +#5 +100% +complete +— +\d+ s ago$/)
    assert.equal(lines[3], '2 devices (* = the one answering)')

    const fleetJson = await runCli(['fleet', '--api', api, '--json'])
    const devices = JSON.parse(fleetJson.stdout) as Array<{ name: string; self: boolean }>
    assert.deepEqual(
      devices.map(d => [d.name, d.self]),
      [
        ['line-3', true],
        ['seed-box', false],
      ],
    )
  })

  it('say clearly when no daemon answers', async () => {
    const port = await closedPort()
    const result = await runCli(['fleet', '--api', `127.0.0.1:${port}`])
    assert.equal(result.code, 1)
    assert.match(
      result.stderr,
      /^pvswarm: cannot reach the daemon's API at http:\/\/127\.0\.0\.1:\d+\/floor \(ECONNREFUSED\); is it running with --api 127\.0\.0\.1:\d+\?\n$/,
    )
    const bad = await runCli(['status', '--api', 'nowhere'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--api: expected host:port, got "nowhere"/)
  })
})

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise(resolve => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}
