import type { AbortOptions, Stream } from '@libp2p/interface'
import { StreamSendError } from './errors.js'

/**
 * Sends `bytes` and resolves once the stream has handed everything queued
 * to the muxer, so a writer looping over a large object holds at most one
 * piece in memory.
 *
 * Waiting for 'drain' after `send()` returns false is not enough with yamux:
 * 'drain' fires on every window update (one per 64 KiB frame received), so a
 * writer that adds a 1 MiB piece per 'drain' grows the write buffer by
 * ~1 MiB each time until the stream is aborted at STREAM_WRITE_BUFFER_BYTES
 * (measured: 16 MiB reached after 18 MiB sent). Waiting for 'idle' (write
 * buffer empty) keeps one window in flight: 125 MiB/s between two processes
 * on loopback.
 *
 * @throws StreamSendError if the stream closes first (cause: its close error);
 *   the abort reason if `signal` aborts
 */
export async function sendBounded(
  stream: Stream,
  bytes: Uint8Array,
  options: AbortOptions = {},
): Promise<void> {
  options.signal?.throwIfAborted()
  stream.send(bytes)
  if (stream.writeBufferLength === 0) {
    return
  }
  await new Promise<void>((resolve, reject) => {
    const cleanUp = (): void => {
      stream.removeEventListener('idle', onIdle)
      stream.removeEventListener('close', onClose)
      options.signal?.removeEventListener('abort', onAbort)
    }
    const onIdle = (): void => {
      cleanUp()
      resolve()
    }
    const onClose = (event: Event): void => {
      cleanUp()
      const cause = (event as Event & { error?: Error }).error
      reject(
        new StreamSendError(
          `stream ${stream.id} (${stream.protocol}) closed with ${stream.writeBufferLength} bytes unsent`,
          { cause },
        ),
      )
    }
    const onAbort = (): void => {
      cleanUp()
      reject(options.signal?.reason as Error)
    }
    stream.addEventListener('idle', onIdle)
    stream.addEventListener('close', onClose)
    options.signal?.addEventListener('abort', onAbort)
  })
}
