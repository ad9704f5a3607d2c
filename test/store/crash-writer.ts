/**
 * Child process for crash.test.ts: fills a partial object chunk by chunk, printing
 * `stored <index>` after each write returns, until its parent kills it with SIGKILL. It stops
 * one chunk short of the end and then waits for stdin to close, so the kill always lands on an
 * unfinished object.
 *
 * argv: <dataDir> <chunkBytes> <chunkCount> <seed>
 */
import { openStore } from '../../src/store/index.js'
import { chunkOf, crashObject, specOf } from './helpers.js'

const [dataDir, chunkBytesArg, chunkCountArg, seedArg] = process.argv.slice(2)
const chunkBytes = Number(chunkBytesArg)
const bytes = crashObject(chunkBytes, Number(chunkCountArg), Number(seedArg))
const spec = specOf(bytes, chunkBytes)

const store = await openStore({ dataDir: dataDir!, reserveBytes: 0 })
const partial = await store.openPartial(spec)
for (let index = 0; index < partial.chunkCount - 1; index++) {
  await partial.writeChunk(index, chunkOf(bytes, chunkBytes, index))
  process.stdout.write(`stored ${index}\n`)
}
process.stdout.write('waiting\n')
process.stdin.resume()
await new Promise(resolve => process.stdin.once('end', resolve))
