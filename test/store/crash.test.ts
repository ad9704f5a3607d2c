import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { openStore, StoreLockedError } from '../../src/store/index.js'
import { repoRoot } from '../fixtures.js'
import { chunkOf, crashObject, makeTempDir, sha256Of, specOf } from './helpers.js'

const CHUNK_BYTES = 1024 * 1024
const CHUNK_COUNT = 24
const SEED = 42
const KILL_AFTER_CHUNKS = 3

describe('store crash safety', () => {
  it('loses at most the chunk in flight when the writer is killed with SIGKILL', async t => {
    const { dir, cleanup } = await makeTempDir()
    try {
      const script = fileURLToPath(new URL('./crash-writer.js', import.meta.url))
      const child = spawn(
        join(repoRoot, 'node_modules', '.bin', 'node'),
        [script, dir, String(CHUNK_BYTES), String(CHUNK_COUNT), String(SEED)],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      )
      const exited = new Promise<NodeJS.Signals | null>(resolve =>
        child.once('close', (_code, signal) => resolve(signal)),
      )

      // Every `stored` line the child managed to print, including any still in the pipe at death.
      const reported = new Set<number>()
      let lockChecked: Promise<void> | undefined
      let killing: Promise<void> | undefined
      let text = ''
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (piece: string) => {
        text += piece
        const lines = text.split('\n')
        text = lines.pop()!
        for (const line of lines) {
          const match = /^stored (\d+)$/.exec(line)
          if (match) reported.add(Number(match[1]))
        }
        if (reported.size >= 1 && !lockChecked) {
          // While the child lives, the directory is its own.
          lockChecked = assert.rejects(openStore({ dataDir: dir }), StoreLockedError)
        }
        if (reported.size >= KILL_AFTER_CHUNKS && !killing) {
          // Only once the lock was seen held: a dead child's lock would rightly be taken over.
          killing = lockChecked!.finally(() => child.kill('SIGKILL'))
        }
      })
      assert.equal(await exited, 'SIGKILL')
      await killing

      const bytes = crashObject(CHUNK_BYTES, CHUNK_COUNT, SEED)
      const spec = specOf(bytes, CHUNK_BYTES)
      const store = await openStore({ dataDir: dir, reserveBytes: 0 })
      try {
        const partial = await store.openPartial(spec)
        const held = [...Array(partial.chunkCount).keys()].filter(index => partial.has(index))
        for (const index of reported) assert.ok(partial.has(index), `chunk ${index} was lost`)
        assert.ok(
          held.length <= reported.size + 1,
          `held ${held.length} chunks but only ${reported.size} were reported stored`,
        )
        assert.equal(partial.isComplete(), false)
        t.diagnostic(`child reported ${reported.size} chunks stored; ${held.length} held at resume`)

        for (const index of partial.missing()) {
          await partial.writeChunk(index, chunkOf(bytes, CHUNK_BYTES, index))
        }
        assert.equal(partial.isComplete(), true)
        await partial.close()
        const published = await readFile(join(dir, 'objects', spec.sha256))
        assert.equal(sha256Of(published), spec.sha256)
      } finally {
        await store.close()
      }
    } finally {
      await cleanup()
    }
  })
})
