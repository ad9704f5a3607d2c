#!/usr/bin/env node
// Entry point of the `pvswarm` command. libp2p 3 needs Node >= 22; when this
// file is started by an older Node (Debian ships 20) and the project brought
// its own runtime (the `node` package in node_modules), re-run under that one.
// Either way the process ends up running with the device's V8 flags
// (src/node/runtime-flags.ts): a small young generation keeps a downloading
// daemon's memory down.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const MINIMUM_NODE_MAJOR = 22
const here = dirname(fileURLToPath(import.meta.url))
const self = fileURLToPath(import.meta.url)
const major = Number(process.versions.node.split('.')[0])
const dist = join(here, '..', 'dist', 'src')

/** The device flags this node was not started with; none when the checkout is not built. */
async function missingFlags() {
  const module = join(dist, 'node', 'runtime-flags.js')
  if (!existsSync(module)) return []
  const { missingDeviceFlags } = await import(pathToFileURL(module).href)
  return missingDeviceFlags(process.execArgv, process.env.NODE_OPTIONS)
}

/** Runs `node` on this file in a child, which stops when this process is told to and ends alike. */
function runChild(node, nodeArgs) {
  // the IPC channel is how the child learns that this process is gone, also after a SIGKILL,
  // which cannot be passed on
  const child = spawn(node, [...nodeArgs, self, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  })
  // a daemon started through this shim must stop when the shim is told to
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal))
  }
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1)
    // end the way the child ended, so callers see the same signal
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  })
}

/**
 * Started by this file in a parent (runChild): when the parent is gone, however it ended, stop
 * as if told to, so a daemon never outlives the process its user started and may kill.
 */
function endWithParent() {
  if (process.channel === undefined) return
  process.channel.unref()
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))
}

if (major >= MINIMUM_NODE_MAJOR) {
  endWithParent()
  const entry = join(dist, 'cli', 'main.js')
  if (!existsSync(entry)) {
    process.stderr.write(
      'pvswarm: not built yet; run `npm ci` (or `npm run build`) in the checkout\n',
    )
    process.exit(1)
  }
  const flags = await missingFlags()
  if (flags.length === 0) {
    const { main } = await import(pathToFileURL(entry).href)
    await main(process.argv)
  } else if (typeof process.execve === 'function') {
    // V8's heap is sized at start-up: the flags need a fresh start. execve (Node >= 22.15) keeps
    // the pid, so signals and the exit code are the daemon's own with no one in between.
    const args = [...process.execArgv, ...flags, self, ...process.argv.slice(2)]
    process.execve(process.execPath, [process.execPath, ...args])
  } else {
    runChild(process.execPath, [...process.execArgv, ...flags])
  }
} else {
  const bundled = join(here, '..', 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bundled)) {
    process.stderr.write(
      `pvswarm: needs Node >= ${MINIMUM_NODE_MAJOR}, found ${process.versions.node}; ` +
        'install a newer Node or run `npm ci` in the pvswarm checkout to bring one\n',
    )
    process.exit(1)
  }
  runChild(bundled, await missingFlags())
}
