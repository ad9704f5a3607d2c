import assert from 'node:assert/strict'
import { test } from 'node:test'
import { addressOf, NodeProcess, startLoopbackNode, tempDir } from './swarm-helpers.js'

test('after stop() nothing keeps the process alive: a node process exits by itself', async t => {
  const parent = await startLoopbackNode(t, { liveness: { intervalMs: 300, timeoutMs: 1_000 } })
  const child = NodeProcess.spawnLocal({
    dataDir: await tempDir(t, 'child'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    staticPeers: [addressOf(parent)],
    dht: true,
    liveness: { intervalMs: 300, timeoutMs: 1_000 },
    allowHosts: ['/ip4/127.0.0.0/ipcidr/8'],
  })
  try {
    await stopsByItself(child, parent.peerId.toString())
  } finally {
    if (child.child.exitCode == null && child.child.signalCode == null) {
      child.child.kill('SIGKILL')
      await child.exited
    }
  }
})

async function stopsByItself(child: NodeProcess, parentId: string): Promise<void> {
  const started = await child.waitFor(e => e.event === 'started')
  await child.waitFor(e => e.event === 'peer:connected' && e.peerId === parentId)
  assert.equal(started.mdns, false)

  child.child.kill('SIGTERM')
  const exit = await Promise.race([
    child.exited,
    new Promise<'hung'>(resolve => setTimeout(() => resolve('hung'), 10_000).unref()),
  ])

  assert.notEqual(
    exit,
    'hung',
    `node process did not exit after stop(); events: ${JSON.stringify(child.events)}`,
  )
  assert.deepEqual(exit, { code: 0, signal: null })
  assert.ok(child.events.some(e => e.event === 'stopped'))
}
