import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import {
  checkNetnsSupport,
  listNamespaces,
  NAMESPACE_PREFIX,
  NetnsFloor,
  sweepStaleNamespaces,
  tbfRateBitsPerSecond,
  type NetnsHost,
} from './netns.js'

const netnsModule = fileURLToPath(new URL('./netns.js', import.meta.url))
const unavailable = await checkNetnsSupport().then(
  () => undefined,
  (err: Error) => err.message,
)

/** Reads a child's stdout one JSON line at a time. */
function jsonLines(child: ChildProcess): () => Promise<any> {
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  return async () => {
    const next = await lines.next()
    if (next.done === true) throw new Error('child ended without output')
    return JSON.parse(next.value)
  }
}

async function firstLine(child: ChildProcess): Promise<any> {
  return jsonLines(child)()
}

/** node -e <code> inside a host's namespace, its stdout piped. */
function nodeIn(floor: NetnsFloor, host: NetnsHost, code: string): ChildProcess {
  return floor.spawn(host, process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
}

/** Receiver on `host`: counts bytes from one connection, prints {bytes, ms} at its end. */
function receiver(floor: NetnsFloor, host: NetnsHost, port: number): ChildProcess {
  return nodeIn(
    floor,
    host,
    `import { createServer } from 'node:net'
     const server = createServer(socket => {
       let bytes = 0, first
       socket.on('data', d => { first ??= performance.now(); bytes += d.length })
       socket.on('end', () => {
         console.log(JSON.stringify({ bytes, ms: performance.now() - first }))
         server.close()
       })
     })
     server.listen(${port}, '${host.address}', () => console.log(JSON.stringify({ listening: true })))`,
  )
}

/** Sender on `host`: connects to `to` and writes `bytes` random bytes. */
function sender(floor: NetnsFloor, host: NetnsHost, to: NetnsHost, port: number, bytes: number) {
  return nodeIn(
    floor,
    host,
    `import { connect } from 'node:net'
     import { randomBytes } from 'node:crypto'
     const socket = connect(${port}, '${to.address}', () => socket.end(randomBytes(${bytes})))`,
  )
}

/** Starts node with `code` outside any namespace; it imports netns.js as `floorModule`. */
function holder(code: string): ChildProcess {
  const script = `import * as floorModule from ${JSON.stringify(netnsModule)}\n${code}`
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
}

describe('network namespaces', { skip: unavailable }, () => {
  const linkMbit = 8
  let floor: NetnsFloor

  before(async () => {
    floor = await NetnsFloor.create({ hosts: 2, linkMbit })
  })
  after(async () => {
    await floor?.destroy()
  })

  it('links two namespaces through the bridge', async () => {
    const [a, b] = floor.hosts as [NetnsHost, NetnsHost]
    const server = receiver(floor, b, 7001)
    const line = jsonLines(server)
    assert.deepEqual(await line(), { listening: true })
    const client = sender(floor, a, b, 7001, 1000)
    const [code] = await once(client, 'exit')
    assert.equal(code, 0)
    assert.equal((await line()).bytes, 1000)
  })

  it('puts a tbf at the link rate on both ends of every link', async () => {
    for (const host of floor.hosts) {
      assert.equal(await tbfRateBitsPerSecond(host.namespace, host.interfaceName), linkMbit * 1e6)
      assert.equal(await tbfRateBitsPerSecond(floor.hub, host.hubInterfaceName), linkMbit * 1e6)
    }
  })

  it('caps a transfer at the link rate, counted by the sender upload and receiver download', async () => {
    const [a, b] = floor.hosts as [NetnsHost, NetnsHost]
    const bytes = 1_500_000
    const beforeA = await floor.linkCounters(a)
    const beforeB = await floor.linkCounters(b)

    const server = receiver(floor, b, 7002)
    const line = jsonLines(server)
    assert.deepEqual(await line(), { listening: true })
    sender(floor, a, b, 7002, bytes)
    const result = (await line()) as { bytes: number; ms: number }

    assert.equal(result.bytes, bytes)
    // the bucket lets 32 KiB pass at once; everything after it goes at the rate
    const boundMs = (((bytes - 64 * 1024) * 8) / (linkMbit * 1e6)) * 1000
    assert.ok(result.ms >= 0.85 * boundMs, `took ${result.ms.toFixed(0)} ms, bound ${boundMs} ms`)

    const afterA = await floor.linkCounters(a)
    const afterB = await floor.linkCounters(b)
    assert.ok(afterA.uploadBytes - beforeA.uploadBytes >= bytes, 'sender eth0 tbf saw the bytes')
    assert.ok(
      afterB.downloadBytes - beforeB.downloadBytes >= bytes,
      'bridge-side tbf saw the bytes',
    )
  })
})

describe('namespace teardown', { skip: unavailable }, () => {
  it('stops processes and deletes every namespace on destroy', async () => {
    const floor = await NetnsFloor.create({ hosts: 2, linkMbit: 0 })
    const names = [floor.hub, ...floor.hosts.map(h => h.namespace)]
    const made = await listNamespaces()
    assert.deepEqual(
      names.filter(ns => !made.includes(ns)),
      [],
    )
    const sleeper = floor.spawn(floor.hosts[0]!, process.execPath, [
      '-e',
      'setInterval(() => {}, 1000)',
    ])
    const exited = once(sleeper, 'exit')

    await floor.destroy()

    await exited
    const left = await listNamespaces()
    assert.deepEqual(
      names.filter(ns => left.includes(ns)),
      [],
    )
  })

  it('deletes the namespaces when the process that made them gets SIGTERM', async () => {
    const child = holder(
      `const floor = await floorModule.NetnsFloor.create({ hosts: 2, linkMbit: 10 })
       console.log(JSON.stringify({ namespaces: [floor.hub, ...floor.hosts.map(h => h.namespace)] }))
       setInterval(() => {}, 1000)`,
    )
    const { namespaces } = (await firstLine(child)) as { namespaces: string[] }
    assert.equal(namespaces.length, 3)
    const made = await listNamespaces()
    assert.deepEqual(
      namespaces.filter(ns => !made.includes(ns)),
      [],
    )

    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const [code] = await exited

    assert.equal(code, 128 + 15)
    const left = await listNamespaces()
    assert.deepEqual(
      namespaces.filter(ns => left.includes(ns)),
      [],
    )
  })

  it('sweeps the namespaces of a process killed with SIGKILL', async () => {
    const child = holder(
      `const floor = await floorModule.NetnsFloor.create({ hosts: 1, linkMbit: 0 })
       console.log(JSON.stringify({ namespaces: [floor.hub, ...floor.hosts.map(h => h.namespace)] }))
       setInterval(() => {}, 1000)`,
    )
    const { namespaces } = (await firstLine(child)) as { namespaces: string[] }
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    assert.ok((await listNamespaces()).includes(namespaces[0]!), 'SIGKILL left them behind')

    const swept = await sweepStaleNamespaces()

    assert.deepEqual(swept.filter(ns => namespaces.includes(ns)).sort(), [...namespaces].sort())
    assert.ok(swept.every(ns => ns.startsWith(NAMESPACE_PREFIX)))
    const left = await listNamespaces()
    assert.deepEqual(
      namespaces.filter(ns => left.includes(ns)),
      [],
    )
  })
})
