/**
 * Loaded by launcher.test.ts before bin/pvswarm.js (`--import`): prints, when the process exits,
 * the node it ran on and node's own flags. A process that execve replaced never exits, so only
 * the one that ran the command reports.
 */
process.on('exit', () => {
  const report = { version: process.versions.node, execArgv: process.execArgv }
  process.stderr.write(`flags ${JSON.stringify(report)}\n`)
})
