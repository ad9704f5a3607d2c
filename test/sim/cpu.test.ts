import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import {
  ChildCpuTracker,
  machineBusyFraction,
  ownCpuSeconds,
  processCpuSeconds,
  sampleMachineCpu,
} from './cpu.js'

function burn(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) Math.sqrt(Math.random())
}

describe('CPU use', () => {
  it('reads a process from /proc as process.cpuUsage counts it', () => {
    burn(300)
    const fromProc = processCpuSeconds(process.pid)
    const own = ownCpuSeconds()
    assert.ok(fromProc !== undefined)
    // /proc counts in clock ticks (10 ms)
    assert.ok(Math.abs(fromProc - own) < 0.1, `/proc ${fromProc} s vs cpuUsage ${own} s`)
  })

  it('answers undefined for a process that is gone', async () => {
    const child = spawn(process.execPath, ['-e', ''])
    await once(child, 'exit')
    assert.equal(processCpuSeconds(child.pid!), undefined)
  })

  it('keeps the last sample of a child after it exited', async () => {
    // the child burns 300 ms of CPU, says how much it used, and waits for stdin to end
    const child = spawn(process.execPath, [
      '-e',
      `const used = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
       while (used() < 0.3) Math.sqrt(Math.random())
       console.log(used())
       process.stdin.resume()`,
    ])
    const tracker = new ChildCpuTracker()
    tracker.track(child.pid!)
    const [line] = (await once(child.stdout!, 'data')) as [Buffer]
    const childSays = Number(String(line))
    tracker.sample()
    child.stdin!.end()
    await once(child, 'exit')
    tracker.sample()

    assert.ok(tracker.seconds(child.pid!) >= childSays - 0.02, `${tracker.seconds(child.pid!)} s`)
    assert.equal(tracker.totalSeconds(), tracker.seconds(child.pid!))
  })

  it('measures how busy the machine was between two samples', () => {
    const before = sampleMachineCpu()
    burn(200)
    const busy = machineBusyFraction(before, sampleMachineCpu())
    assert.ok(busy !== undefined && busy > 0 && busy <= 1, `busy ${busy}`)
  })
})
