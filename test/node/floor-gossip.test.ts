import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeFrame } from '../../src/exchange/framing.js'
import { FLOOR_PROTOCOL, MAX_FLOOR_MESSAGE_BYTES } from '../../src/exchange/index.js'
import { revisionFixture } from '../fixtures.js'
import { addressOf, capturedLogger, fixtureRelease, testFloor } from './device-helpers.js'
import { FAST_FLOOR, floorShows, rowOf, until } from './operator-helpers.js'

describe('floor gossip', () => {
  it('tells a device about one it is not connected to, through the middle one', async t => {
    const floor = await testFloor(t)
    const a = await floor.start('a', { name: 'device-a' }, FAST_FLOOR)
    const b = await floor.start('b', { name: 'device-b', peer: [addressOf(a)] }, FAST_FLOOR)
    const c = await floor.start('c', { name: 'device-c', peer: [addressOf(b)] }, FAST_FLOOR)

    await floorShows(a, c, row => row.name === 'device-c', 'a to hear of c')
    await floorShows(c, a, row => row.name === 'device-a', 'c to hear of a')
    assert.ok(!a.device.network.libp2p.getPeers().some(p => p.equals(c.device.peerId)))
    assert.deepEqual(
      a.views.floor.rows().map(row => row.name),
      ['device-a', 'device-b', 'device-c'],
    )
    assert.equal(rowOf(a, a)?.self, true)
  })

  it('spreads download progress and completion across the floor', async t => {
    const floor = await testFloor(t)
    const a = await floor.start('a', { name: 'seed' }, FAST_FLOOR)
    const b = await floor.start('b', { name: 'middle', peer: [addressOf(a)] }, FAST_FLOOR)
    const c = await floor.start('c', { name: 'far', peer: [addressOf(b)] }, FAST_FLOOR)
    await floorShows(a, c, () => true, 'a to hear of c')

    const release = await fixtureRelease('rev1', floor.key, 7)
    const id = await a.device.seed(release, revisionFixture('rev1'))

    await floorShows(
      a,
      c,
      row => row.newest?.releaseId === id && row.newest.phase === 'complete',
      'a to see c complete',
    )
    const far = rowOf(a, c)!
    assert.equal(far.newest?.sequence, 7)
    assert.equal(far.newest?.chunksDone, far.newest?.chunksTotal)
    assert.ok((far.newest?.bytesTotal ?? 0) > 0)
    assert.equal(far.newest?.seeded, false)
    await floorShows(c, a, row => row.newest?.seeded === true, 'c to see a as the seed')
  })

  it('drops and logs a bad floor message, and goes on', async t => {
    const floor = await testFloor(t)
    const lines: Array<Record<string, unknown>> = []
    const { logger, sink } = capturedLogger(lines)
    const a = await floor.start('a', { name: 'listener' }, { ...FAST_FLOOR, logger })
    const b = await floor.start('b', { name: 'talker', peer: [addressOf(a)] }, FAST_FLOOR)
    await floorShows(a, b, () => true, 'a to hear of b')
    const node = b.device.network.libp2p as unknown as {
      dialProtocol(
        peer: unknown,
        protocol: string,
      ): Promise<{
        send(data: unknown): boolean
        close(): Promise<void>
      }>
    }
    const send = async (payload: Uint8Array): Promise<void> => {
      const stream = await node.dialProtocol(a.device.peerId, FLOOR_PROTOCOL)
      stream.send(encodeFrame(payload))
      await stream.close().catch(() => {})
    }
    const dropped = () => lines.filter(line => line.msg === 'floor message dropped')

    await send(new TextEncoder().encode('{"v":1,"entries":[{"peer":"x"}]}'))
    await until(sink, 'line', () => dropped().length >= 1, 'the invalid entry to be logged')
    assert.match(String(dropped()[0]?.reason), /invalid message at entries\.0/)

    // a length prefix above the limit is refused before anything is buffered
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, MAX_FLOOR_MESSAGE_BYTES + 1)
    const stream = await node.dialProtocol(a.device.peerId, FLOOR_PROTOCOL)
    stream.send(header)
    await until(
      sink,
      'line',
      () => dropped().some(line => /at most/.test(String(line.reason))),
      'the oversized message to be logged',
    )

    assert.deepEqual(
      a.views.floor.rows().map(row => row.name),
      ['listener', 'talker'],
    )
  })
})
