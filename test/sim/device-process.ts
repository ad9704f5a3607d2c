/**
 * One simulated device in a process of its own (the netns floor runs one per
 * namespace). The device's SimDeviceSpec comes as JSON in argv[2] or in the
 * PVSIM_DEVICE environment variable. It reports on stdout, one JSON line per
 * event, each with a `sim` field (see device-protocol.ts), and takes commands
 * as JSON lines on stdin. It stops when stdin ends, so a simulator that dies
 * without cleaning up does not leave devices running.
 */
import { createInterface } from 'node:readline'
import { parseRelease } from '../../src/release/index.js'
import { ownCpuSeconds } from './cpu.js'
import { parseCommand, type DeviceCommand, type DeviceReport } from './device-protocol.js'
import { SimDevice, type SimDeviceSpec } from './sim-device.js'

/** Progress lines per download are sent at most this often. */
const PROGRESS_INTERVAL_MS = 250

function report(line: DeviceReport): void {
  process.stdout.write(JSON.stringify(line) + '\n')
}

function readSpec(): SimDeviceSpec {
  const text = process.argv[2] ?? process.env.PVSIM_DEVICE
  if (text === undefined)
    throw new Error('expected the device spec as JSON in argv[2] or PVSIM_DEVICE')
  const spec = JSON.parse(text) as SimDeviceSpec
  if (typeof spec?.name !== 'string' || typeof spec.dir !== 'string') {
    throw new Error('device spec: expected at least "name" and "dir"')
  }
  return spec
}

async function main(): Promise<void> {
  const device = await SimDevice.start(readSpec())
  let stopping: Promise<void> | undefined
  const stop = (code: number): Promise<void> =>
    (stopping ??= device
      .stop()
      .catch(err => report({ sim: 'fatal', message: `stop: ${(err as Error).message}` }))
      .finally(() => process.exit(code)))
  process.on('SIGTERM', () => void stop(0))
  process.on('SIGINT', () => void stop(0))

  forwardEvents(device)
  report({ sim: 'ready', peerId: device.peerId, addresses: device.addresses })

  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === '') continue
    const command = parseCommand(line)
    if (command === undefined) {
      report({ sim: 'fatal', message: `unreadable command ${JSON.stringify(line.slice(0, 80))}` })
    } else if (command.cmd === 'stop') {
      report({ sim: 'reply', id: command.id })
      break
    } else {
      // a seed takes a while: stats requests are answered meanwhile
      void answer(device, command)
    }
  }
  // stdin ended (the simulator is gone) or a stop command came
  await stop(0)
}

async function answer(device: SimDevice, command: Exclude<DeviceCommand, { cmd: 'stop' }>) {
  try {
    if (command.cmd === 'seed') {
      const release = parseRelease(Buffer.from(command.release, 'base64'))
      const releaseId = await device.seed(release, command.revisionPath)
      report({ sim: 'reply', id: command.id, releaseId })
    } else {
      const stats = await device.stats()
      report({ sim: 'reply', id: command.id, stats, cpuSeconds: ownCpuSeconds() })
    }
  } catch (err) {
    report({ sim: 'reply', id: command.id, error: (err as Error).message })
  }
}

function forwardEvents(device: SimDevice): void {
  const lastSent = new Map<string, number>()
  device.on('accepted', e => report({ sim: 'accepted', ...e }))
  device.on('progress', e => {
    const now = performance.now()
    const last = lastSent.get(e.releaseId) ?? -Infinity
    if (now - last < PROGRESS_INTERVAL_MS && e.bytesDone < e.bytesTotal) return
    lastSent.set(e.releaseId, now)
    report({ sim: 'progress', ...e })
  })
  device.on('complete', e => report({ sim: 'complete', ...e }))
  device.on('trial', e => report({ sim: 'trial', ...e }))
  device.on('failed', e => report({ sim: 'failed', ...e }))
}

main().catch(err => {
  report({ sim: 'fatal', message: (err as Error).stack ?? String(err) })
  process.exit(1)
})
