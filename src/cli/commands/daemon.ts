import { once } from 'node:events'
import { watch } from 'node:fs'
import type { Command } from 'commander'
import { readConfigFile, resolveDaemonConfig } from '../../node/config.js'
import { startDevice } from '../../node/daemon.js'
import { dropSeedRequest, incomingDir, readSeedResult } from '../../node/incoming.js'
import { seedObjects } from '../../node/seed.js'
import { parseRelease, releaseId } from '../../release/index.js'
import { openStore, StoreLockedError } from '../../store/index.js'
import { readFile } from 'node:fs/promises'
import { aboutInput, CommandFailure } from '../errors.js'
import { formatBytes, printJson, printLines } from '../output.js'
import { collect, parsePositiveInteger, parsePublicKey } from '../parse.js'

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description(
      'run this device: find peers, accept signed releases, fetch, verify, serve, hand over',
    )
    .option('--config <file>', 'JSON file with the same settings (flags win)')
    .option('--data <dir>', 'data directory (objects, releases, identity, state)')
    .option('--fleet <name>', 'the fleet this device belongs to')
    .option('--name <name>', 'name shown on the floor (default: the hostname)')
    .option(
      '--trust <pubkey>',
      'trusted release key ed25519:…; repeatable',
      (v: string, p: string[] | undefined) => collect(parsePublicKey(v), p),
    )
    .option('--threshold <k>', 'distinct trusted signatures a release needs', parsePositiveInteger)
    .option('--peer <multiaddr>', 'static peer (…/p2p/<id>); repeatable', collect)
    .option('--fleet-key <file>', 'fleet pre-shared key: devices without it cannot connect')
    .option('--allow-peer <peer-id>', 'only these peers may connect; repeatable', collect)
    .option(
      '--listen <multiaddr>',
      'listen address; repeatable (default /ip4/0.0.0.0/tcp/0)',
      collect,
    )
    .option('--announce <multiaddr>', 'address to announce instead; repeatable', collect)
    .option('--no-mdns', 'do not discover peers by mDNS')
    .option('--no-dht', 'no DHT provider records')
    .option('--pvctrl <socket>', 'pv-ctrl socket, or "none" to only download (default: probe)')
    .option('--api <host:port>', 'serve the local status API here, e.g. 127.0.0.1:8222')
    .option('--handover <when>', 'now, never, or a daily window HH:MM-HH:MM')
    .option('--run-command <op>', 'LOCAL_RUN or LOCAL_RUN_COMMIT')
    .option('--upload-slots <n>', 'chunk requests served at once', parsePositiveInteger)
    .option('--upload-rate <bytes/s>', 'upload cap in bytes per second', parsePositiveInteger)
    .option(
      '--upload-deadline <s>',
      'seconds a peer may take to receive one chunk before its upload is dropped',
      parsePositiveInteger,
    )
    .option('--untrusted-clock', 'this device has no trustworthy clock')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent')
    .action(async options => {
      const fromFile = options.config === undefined ? {} : await readConfigFile(options.config)
      const config = resolveDaemonConfig(
        fromFile,
        {
          data: options.data,
          fleet: options.fleet,
          name: options.name,
          trust: options.trust,
          threshold: options.threshold,
          peer: options.peer,
          fleetKey: options.fleetKey,
          allowPeer: options.allowPeer,
          listen: options.listen,
          announce: options.announce,
          // commander's --no-x flags default to true: only a given flag overrides the file
          mdns: options.mdns === false ? false : undefined,
          dht: options.dht === false ? false : undefined,
          pvctrl: options.pvctrl,
          api: options.api,
          handover: options.handover,
          runCommand: options.runCommand,
          uploadSlots: options.uploadSlots,
          uploadRateBytesPerSecond: options.uploadRate,
          uploadDeadlineSeconds: options.uploadDeadline,
          clockTrusted: options.untrustedClock === true ? false : undefined,
          logLevel: options.logLevel,
        },
        options.config === undefined ? 'daemon' : `daemon (with ${options.config})`,
      )

      // listening before the start: a signal during it stops the device cleanly once it is up,
      // instead of killing the process with the default action
      const stopSignal = Promise.race([
        once(process, 'SIGINT').then(() => ['SIGINT']),
        once(process, 'SIGTERM').then(() => ['SIGTERM']),
      ])
      const running = await startDevice(config)
      if (running.api !== undefined) {
        running.logger.info({ api: `http://${running.api.address}/status` }, 'status API listening')
      }
      const [signal] = await stopSignal
      running.logger.info({ signal }, 'stopping')
      await running.stop()
    })

  program
    .command('seed <release>')
    .description("put a release and its objects into a device's data directory")
    .requiredOption('--revision <path>', 'the pvr export or checkout the release was made from')
    .requiredOption('--data <dir>', 'data directory of the device')
    .option(
      '--wait-seconds <s>',
      'how long to wait for a running daemon to take it',
      parsePositiveInteger,
      600,
    )
    .option('--json', 'print the result as JSON')
    .action(
      async (
        file: string,
        options: { revision: string; data: string; waitSeconds: number; json?: boolean },
      ) => {
        const release = await aboutInput(file, async () => parseRelease(await readFile(file)))
        const id = releaseId(release)

        let imported: { objects: number; addedBytes: number } | undefined
        try {
          const store = await openStore({ dataDir: options.data })
          try {
            imported = await aboutInput(options.revision, () =>
              seedObjects(store, release, options.revision),
            )
          } finally {
            await store.close()
          }
        } catch (err) {
          // a running daemon owns the store: it imports the objects itself
          if (!(err instanceof StoreLockedError)) throw err
        }

        await dropSeedRequest(options.data, release, options.revision)
        if (imported !== undefined) {
          const message = `objects in place (${imported.objects} objects, ${formatBytes(imported.addedBytes)} new); the daemon judges and announces the release when it starts`
          if (options.json === true)
            printJson({ releaseId: id, daemon: false, ...imported, message })
          else printLines(`seeded release ${id}`, message)
          return
        }

        const result = await waitForResult(options.data, id, options.waitSeconds * 1000)
        if (!result.ok) throw new CommandFailure(`the daemon refused the seed: ${result.message}`)
        if (options.json === true)
          printJson({ releaseId: id, daemon: true, message: result.message })
        else printLines(`seeded release ${id}`, `the running daemon ${result.message}`)
      },
    )
}

async function waitForResult(dataDir: string, id: string, timeoutMs: number) {
  const watcher = watch(incomingDir(dataDir))
  try {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const result = await readSeedResult(dataDir, id)
      if (result !== undefined) return result
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new CommandFailure(
          `a daemon holds ${dataDir} but did not take the seed within ${timeoutMs / 1000}s; the request stays in ${incomingDir(dataDir)}`,
        )
      }
      // the watch wakes us when the result lands; the timer only bounds the wait, since
      // inotify can miss a rename on network filesystems
      await Promise.race([
        once(watcher, 'change'),
        new Promise(resolve => setTimeout(resolve, Math.min(left, 5000)).unref()),
      ])
    }
  } finally {
    watcher.close()
  }
}
