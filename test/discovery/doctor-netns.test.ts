/**
 * `pvswarm doctor` in one network namespace sees a node in another answer its mDNS query.
 * Two namespaces on one bridge (test/sim/netns.ts); nothing leaves them. Needs root.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import type { Check, DoctorFacts } from '../../src/cli/doctor-checks.js'
import { bundledNode, pvswarmBin } from '../cli/helpers.js'
import { NODE_PROCESS_SCRIPT, NodeProcess, tempDir } from '../node/swarm-helpers.js'
import { checkNetnsSupport, listNamespaces, NetnsFloor, type NetnsHost } from '../sim/netns.js'

const unavailable = await checkNetnsSupport().then(
  () => undefined,
  (err: Error) => `skipped: needs Linux network namespaces (${err.message})`,
)

test(
  'doctor in one namespace lists the node in the other namespace that answered its query',
  { skip: unavailable },
  async t => {
    const floor = await NetnsFloor.create({ hosts: 2, linkMbit: 0 })
    const made = [floor.hub, ...floor.hosts.map(h => h.namespace)]
    try {
      const [doctorHost, nodeHost] = [floor.hosts[0]!, floor.hosts[1]!]
      const config = {
        dataDir: await tempDir(t, 'doctor-netns'),
        listen: ['/ip4/0.0.0.0/tcp/0'],
        // a query of its own only after the doctor is done: the answer is what is tested
        mdns: { queryIntervalMs: 60_000, firstQueryMaxDelayMs: 60_000, answerMaxDelayMs: 50 },
        dht: false,
      }
      const node = new NodeProcess(
        floor.spawn(nodeHost, process.execPath, [NODE_PROCESS_SCRIPT, JSON.stringify(config)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      )
      const started = await node.waitFor(e => e.event === 'started')
      assert.equal(started.mdns, true, 'the node opened its mDNS sockets')

      const report = await doctorIn(floor, doctorHost)
      const answer = report.probe.answers.find(a => a.peerId === started.peerId)
      assert.ok(answer, `the node answered; report: ${JSON.stringify(report.probe)}`)
      assert.equal(answer.from, nodeHost.address)
      assert.ok(answer.multiaddrs.some(a => a.startsWith(`/ip4/${nodeHost.address}/tcp/`)))
      assert.deepEqual(
        report.interfaces.filter(i => i.usedByMdns).map(i => [i.name, i.address]),
        [[doctorHost.interfaceName, doctorHost.address]],
        'only eth0 of its own namespace is used',
      )
      const answers = report.checks.find(c => c.id === 'mdns:answers')
      assert.equal(answers?.status, 'ok')
      assert.match(answers?.summary ?? '', new RegExp(`^1 answered: .* from ${nodeHost.address}$`))
      t.diagnostic(`namespaces ${made.join(', ')}: ${answers?.summary}`)
    } finally {
      await floor.destroy()
    }
    const left = (await listNamespaces()).filter(ns => made.includes(ns))
    assert.deepEqual(left, [], 'every namespace was deleted')
  },
)

/** Runs `pvswarm doctor --json` inside a host's namespace and parses what it printed. */
async function doctorIn(
  floor: NetnsFloor,
  host: NetnsHost,
): Promise<DoctorFacts & { checks: Check[] }> {
  const child = floor.spawn(host, bundledNode, [pvswarmBin, 'doctor', '--json', '--wait', '2000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const [code] = (await once(child, 'close')) as [number | null]
  assert.equal(code, 0, `doctor exits 0; stderr: ${stderr}`)
  return JSON.parse(stdout) as DoctorFacts & { checks: Check[] }
}
