/**
 * mDNS between real network stacks: one Linux network namespace per node,
 * joined by a bridge (test/sim/netns.ts), one node process per namespace.
 * Nothing leaves the namespaces this test creates. Needs root.
 */
import assert from 'node:assert/strict'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { loadOrCreateIdentity } from '../../src/node/index.js'
import {
  NODE_PROCESS_SCRIPT,
  NodeProcess,
  tempDir,
  type NodeProcessConfig,
} from '../node/swarm-helpers.js'
import { repoRoot } from '../fixtures.js'
import { checkNetnsSupport, listNamespaces, NetnsFloor, type NetnsHost } from '../sim/netns.js'

const unavailable = await checkNetnsSupport().then(
  () => undefined,
  (err: Error) => `skipped: needs Linux network namespaces (${err.message})`,
)

/** Fast mDNS so the test takes seconds; jitter stays on. */
const FAST_MDNS = { queryIntervalMs: 1_000, firstQueryMaxDelayMs: 500, answerMaxDelayMs: 50 }

function startIn(floor: NetnsFloor, host: NetnsHost, config: NodeProcessConfig): NodeProcess {
  const child = floor.spawn(host, process.execPath, [NODE_PROCESS_SCRIPT, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new NodeProcess(child)
}

/** Runs `body` on a fresh floor and checks that every namespace it made is gone afterwards. */
async function onFloor(
  t: TestContext,
  hosts: number,
  body: (floor: NetnsFloor) => Promise<void>,
): Promise<void> {
  const floor = await NetnsFloor.create({ hosts, linkMbit: 0 })
  const made = [floor.hub, ...floor.hosts.map(h => h.namespace)]
  try {
    await body(floor)
  } finally {
    await floor.destroy()
  }
  const left = (await listNamespaces()).filter(ns => made.includes(ns))
  assert.deepEqual(left, [], 'every namespace of the floor was deleted')
  t.diagnostic(`namespaces ${made.join(', ')} created and deleted`)
}

/** SIGTERM, then the process must stop its node and end by itself. */
async function stopAndExit(node: NodeProcess): Promise<void> {
  node.child.kill('SIGTERM')
  const exit = await Promise.race([
    node.exited,
    new Promise<'hung'>(resolve => setTimeout(() => resolve('hung'), 10_000).unref()),
  ])
  assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${node.stderr}`)
}

test(
  'three nodes, each in its own namespace on one bridge, find and connect to each other by mDNS alone',
  { skip: unavailable },
  async t => {
    await onFloor(t, 3, async floor => {
      const nodes: NodeProcess[] = []
      for (const host of floor.hosts) {
        nodes.push(
          startIn(floor, host, {
            dataDir: await tempDir(t, `mdns-${host.index}`),
            listen: ['/ip4/0.0.0.0/tcp/0'],
            mdns: FAST_MDNS,
            dht: false,
          }),
        )
      }
      const started = await Promise.all(nodes.map(n => n.waitFor(e => e.event === 'started')))
      assert.ok(
        started.every(e => e.mdns === true),
        'mDNS sockets opened in every namespace',
      )
      const ids = started.map(e => e.peerId as string)

      for (const [i, node] of nodes.entries()) {
        for (const [j, id] of ids.entries()) {
          if (i === j) continue
          await node.waitFor(e => e.event === 'peer:connected' && e.peerId === id, 15_000)
        }
      }
      // No static peers were given: each pair met because one side found the other by mDNS.
      const foundByMdns = (finder: number, found: number) =>
        nodes[finder]!.events.some(
          e => e.event === 'peer:discovered' && e.source === 'mdns' && e.peerId === ids[found],
        )
      for (let i = 0; i < ids.length; i++) {
        for (let j = i + 1; j < ids.length; j++) {
          assert.ok(foundByMdns(i, j) || foundByMdns(j, i), `nodes ${i} and ${j} met through mDNS`)
        }
      }

      // A standard mDNS querier (port 5353, like avahi-browse) gets multicast answers.
      const instances = await standardQuery(floor, floor.hosts[0]!, 3)
      assert.equal(instances.length, 3, 'every node answered, including the one beside the querier')
      assert.ok(instances.every(name => name.endsWith('._pvswarm._udp.local')))

      for (const node of nodes) {
        await stopAndExit(node)
      }
    })
  },
)

/**
 * Sends one PTR query for the fleet service from port 5353 inside `host`'s
 * namespace and returns the distinct instances that answer on the group,
 * once `wanted` have (or after 5 s).
 */
async function standardQuery(
  floor: NetnsFloor,
  host: NetnsHost,
  wanted: number,
): Promise<string[]> {
  const script = `
    import { createSocket } from 'node:dgram'
    import { createRequire } from 'node:module'
    const dns = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))})('dns-packet')
    const seen = new Set()
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    const done = () => { console.log(JSON.stringify([...seen])); socket.close() }
    const timer = setTimeout(done, 5000)
    socket.on('message', bytes => {
      const packet = dns.decode(bytes)
      for (const answer of packet.answers ?? []) {
        if (packet.type === 'response' && answer.type === 'PTR') seen.add(answer.data)
      }
      if (seen.size >= ${wanted}) { clearTimeout(timer); done() }
    })
    socket.bind(5353, () => {
      socket.addMembership('224.0.0.251', ${JSON.stringify(host.address)})
      socket.setMulticastInterface(${JSON.stringify(host.address)})
      const query = dns.encode({ type: 'query', id: 0, questions: [{ name: '_pvswarm._udp.local', type: 'PTR' }] })
      socket.send(query, 5353, '224.0.0.251')
    })`
  const child = floor.spawn(host, process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  await new Promise(resolve => child.once('exit', resolve))
  return JSON.parse(output) as string[]
}

test(
  'two devices started from one cloned data directory see each other as a clone by mDNS',
  { skip: unavailable },
  async t => {
    const original = await tempDir(t, 'original')
    await loadOrCreateIdentity(original)
    const cloned = join(await tempDir(t, 'clone'), 'data')
    await cp(original, cloned, { recursive: true })

    await onFloor(t, 2, async floor => {
      const [hostA, hostB] = floor.hosts as [NetnsHost, NetnsHost]
      const a = startIn(floor, hostA, { dataDir: original, mdns: FAST_MDNS, dht: false })
      const b = startIn(floor, hostB, { dataDir: cloned, mdns: FAST_MDNS, dht: false })

      const [startedA, startedB] = await Promise.all([
        a.waitFor(e => e.event === 'started'),
        b.waitFor(e => e.event === 'started'),
      ])
      assert.equal(startedA.peerId, startedB.peerId, 'both run the same identity')

      const seenByA = await a.waitFor(e => e.event === 'clone:suspected', 15_000)
      const seenByB = await b.waitFor(e => e.event === 'clone:suspected', 15_000)
      assert.equal(seenByA.via, 'mdns')
      assert.equal(seenByA.remoteAddress, hostB.address)
      assert.equal(seenByB.remoteAddress, hostA.address)
      assert.ok(!a.events.some(e => e.event === 'peer:connected'), 'a clone is not dialled')

      await stopAndExit(a)
      await stopAndExit(b)
    })
  },
)
