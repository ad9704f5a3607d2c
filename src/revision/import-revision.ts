import { stat } from 'node:fs/promises'
import type { ImportOptions, ImportResult } from './import-common.js'
import type { ObjectSink } from './objects.js'
import { importPvrCheckout } from './pvr-checkout-import.js'
import { importPvrExportFile } from './pvr-export-import.js'

/** Imports a pvr checkout when `path` is a directory, a pvr export file (`.tgz`/`.tar`) otherwise. */
export async function importRevision(
  path: string,
  sink: ObjectSink,
  options?: ImportOptions,
): Promise<ImportResult> {
  const info = await stat(path)
  return info.isDirectory()
    ? importPvrCheckout(path, sink, options)
    : importPvrExportFile(path, sink, options)
}
