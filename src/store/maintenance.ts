import { stat } from 'node:fs/promises'
import { isNotFound } from './fs-util.js'
import type { FsckReport } from './index.js'
import type { Layout } from './layout.js'
import type { ObjectFiles } from './objects.js'
import type { PartialCore } from './partial.js'
import {
  discardPartialFiles,
  openPartialData,
  partialIds,
  readPartialMeta,
  recordedChunks,
  verifyChunks,
} from './partial-files.js'
import { rewriteChunkLog } from './chunk-log.js'
import type { Serial } from './serial.js'

export interface MaintenanceContext {
  layout: Layout
  objects: ObjectFiles
  /** Serialises work on partials with their opening and closing. */
  gate: Serial
  /** The open core of a partial, if any (only consulted inside the gate). */
  openCore(sha256: string): PartialCore | undefined
}

export async function fsck(ctx: MaintenanceContext): Promise<FsckReport> {
  const report: FsckReport = {
    objectsChecked: 0,
    objectsBad: [],
    chunksChecked: 0,
    chunksBad: [],
    quarantined: [],
  }

  for (const { sha256 } of await ctx.objects.list()) {
    const verdict = await ctx.objects.verify(sha256)
    if (verdict === 'missing') continue
    report.objectsChecked++
    if (verdict === 'good') continue
    report.objectsBad.push(sha256)
    report.quarantined.push(sha256)
  }

  for (const sha256 of await partialIds(ctx.layout)) {
    const { checked, bad } = await ctx.gate.run(() => checkPartial(ctx, sha256))
    report.chunksChecked += checked
    for (const index of bad) report.chunksBad.push({ sha256, index })
  }
  return report
}

async function checkPartial(
  ctx: MaintenanceContext,
  sha256: string,
): Promise<{ checked: number; bad: number[] }> {
  const core = ctx.openCore(sha256)
  if (core) return core.reverify()

  const spec = await readPartialMeta(ctx.layout, sha256)
  if (!spec) return { checked: 0, bad: [] }
  const recorded = await recordedChunks(ctx.layout, spec)
  const data = await openPartialData(ctx.layout, sha256, 'r')
  let result: { good: number[]; bad: number[] }
  if (data) {
    try {
      result = await verifyChunks(data, spec, recorded)
    } finally {
      await data.close()
    }
  } else {
    result = { good: [], bad: recorded }
  }
  if (result.bad.length > 0) {
    const temp = ctx.layout.tempFile('chunks')
    await rewriteChunkLog(ctx.layout.partialChunks(sha256), temp, result.good)
  }
  return { checked: recorded.length, bad: result.bad }
}

export async function gc(
  ctx: MaintenanceContext,
  keep: ReadonlySet<string>,
): Promise<{ removed: string[]; freedBytes: number }> {
  const removed = new Set<string>()
  let freedBytes = 0

  for (const { sha256, size } of await ctx.objects.list()) {
    if (keep.has(sha256)) continue
    if (await ctx.objects.remove(sha256)) {
      removed.add(sha256)
      freedBytes += size
    }
  }

  for (const sha256 of await partialIds(ctx.layout)) {
    if (keep.has(sha256)) continue
    freedBytes += await ctx.gate.run(async () => {
      // An open partial is someone's work in progress; it goes when it is closed and gc runs again.
      if (ctx.openCore(sha256)) return 0
      const bytes = await allocatedBytes(ctx.layout.partialData(sha256))
      await discardPartialFiles(ctx.layout, sha256)
      removed.add(sha256)
      return bytes
    })
  }
  return { removed: [...removed].sort(), freedBytes }
}

/** Bytes a (sparse) file really occupies. */
async function allocatedBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).blocks * 512
  } catch (err) {
    if (isNotFound(err)) return 0
    throw err
  }
}
