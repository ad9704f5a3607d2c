/**
 * Used by hash-pool.test.ts: hashes one chunk on a pool, prints the hash, then closes the pool
 * (argv[2] `close`) or leaves it (`leave`), and does nothing more: the process must end by itself.
 */
import { createHash } from 'node:crypto'
import { HashPool } from '../../src/store/hash-pool.js'

const bytes = Uint8Array.from({ length: 4096 }, (_, index) => index % 251)
const expected = createHash('sha256').update(bytes).digest('hex')
const pool = new HashPool(1)
const checked = await pool.object().checkChunk(0, expected, bytes)
process.stdout.write(`hashed ${checked.sha256}\n`)
if (process.argv[2] === 'close') await pool.close()
