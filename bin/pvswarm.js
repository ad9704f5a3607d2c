#!/usr/bin/env node
// Entry point of the `pvswarm` command. libp2p 3 needs Node >= 22; when this
// file is started by an older Node (Debian ships 20) and the project brought
// its own runtime (the `node` package in node_modules), re-run under that one.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const MINIMUM_NODE_MAJOR = 22
const here = dirname(fileURLToPath(import.meta.url))
const major = Number(process.versions.node.split('.')[0])

if (major >= MINIMUM_NODE_MAJOR) {
  const entry = join(here, '..', 'dist', 'src', 'cli', 'main.js')
  if (!existsSync(entry)) {
    process.stderr.write('pvswarm: not built yet; run `npm ci` (or `npm run build`) in the checkout\n')
    process.exit(1)
  }
  const { main } = await import(pathToFileURL(entry).href)
  await main(process.argv)
} else {
  const bundled = join(here, '..', 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bundled)) {
    process.stderr.write(
      `pvswarm: needs Node >= ${MINIMUM_NODE_MAJOR}, found ${process.versions.node}; ` +
        'install a newer Node or run `npm ci` in the pvswarm checkout to bring one\n',
    )
    process.exit(1)
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
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
