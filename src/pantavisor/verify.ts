import { createHash } from 'node:crypto'
import { PvCtrlBadChecksumError } from './errors.js'
import type { PvCtrlCall, PvCtrlResponse } from './http.js'

/**
 * Yields an object's bytes as they arrive, hashing them; after the last one
 * throws PvCtrlBadChecksumError if they do not hash to `sha256`. A consumer
 * that stops early skips the check (and closes the connection).
 */
export async function* verifiedBody(
  response: PvCtrlResponse,
  call: PvCtrlCall,
  sha256: string,
): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256')
  try {
    for await (const chunk of response.res as AsyncIterable<Buffer>) {
      hash.update(chunk)
      yield chunk
    }
  } catch (err) {
    throw response.mapError(err)
  } finally {
    response.close()
  }
  const got = hash.digest('hex')
  if (got !== sha256) {
    throw new PvCtrlBadChecksumError(
      `pv-ctrl GET ${call.path}: expected sha256 ${sha256}, got ${got}`,
    )
  }
}
