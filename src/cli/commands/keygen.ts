import type { Command } from 'commander'
import { generateReleaseKey, writeKeyFile } from '../../release/index.js'
import { printJson, printLines } from '../output.js'

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('create an ed25519 release signing key (private key file, mode 0600)')
    .requiredOption('--out <file>', 'where to write the private key file (must not exist)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { out: string; json?: boolean }) => {
      const key = generateReleaseKey()
      await writeKeyFile(options.out, key)
      if (options.json === true) printJson({ keyFile: options.out, publicKey: key.publicKey })
      else
        printLines(
          `wrote private key ${options.out} (keep it secret)`,
          `public key (give this to devices with --trust):`,
          key.publicKey,
        )
    })
}
