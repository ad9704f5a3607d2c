import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import { createSwarmLibp2p, type SwarmLibp2p } from '../../src/node/libp2p.js'
import { LOOPBACK } from './devices.js'

/** The yardstick's own protocol: bytes one way, nothing else. */
const BARE_PROTOCOL = '/pvswarm-bench/bare/1.0.0'

/** Bytes per write: the size of a chunk answer, so both legs hand yamux the same pieces. */
const WRITE_BYTES = 1024 * 1024

export interface BareTransfer {
  bytes: number
  /** from the first byte's arrival to the last one's, on the receiver */
  ms: number
}

interface Expected {
  bytes: number
  resolve(transfer: BareTransfer): void
  reject(err: Error): void
}

/**
 * Two libp2p nodes built exactly like a device's (createSwarmLibp2p: TCP, noise, yamux with the
 * device's window and buffer sizes), connected on loopback: the fastest one stream can carry
 * bytes here, to hold pvswarm's own transfer against.
 */
export class BareStreamPair {
  readonly #sender: SwarmLibp2p
  readonly #receiver: SwarmLibp2p
  #expected: Expected | undefined

  private constructor(sender: SwarmLibp2p, receiver: SwarmLibp2p) {
    this.#sender = sender
    this.#receiver = receiver
  }

  static async start(): Promise<BareStreamPair> {
    const build = async (): Promise<SwarmLibp2p> =>
      createSwarmLibp2p({
        privateKey: await generateKeyPair('Ed25519'),
        listen: [`${LOOPBACK}/tcp/0`],
        dht: false,
        allowHosts: [LOOPBACK],
      })
    const sender = await build()
    const receiver = await build()
    const pair = new BareStreamPair(sender, receiver)
    try {
      await sender.start()
      await receiver.start()
      await receiver.handle(BARE_PROTOCOL, stream => pair.#receive(stream))
      await sender.dial(receiver.getMultiaddrs())
    } catch (err) {
      await pair.stop()
      throw err
    }
    return pair
  }

  /** Sends `bytes` over a new stream; resolves when the receiver has every one of them. */
  async transfer(bytes: number): Promise<BareTransfer> {
    if (this.#expected !== undefined) throw new Error('one bare transfer at a time')
    const arrived = new Promise<BareTransfer>((resolve, reject) => {
      this.#expected = { bytes, resolve, reject }
    })
    // a send that fails first throws its own error; the receiver's verdict is then not awaited
    arrived.catch(() => {})
    try {
      const stream = await this.#sender.dialProtocol(this.#receiver.peerId, BARE_PROTOCOL)
      const piece = randomBytes(WRITE_BYTES)
      for (let sent = 0; sent < bytes; sent += piece.byteLength) {
        const length = Math.min(piece.byteLength, bytes - sent)
        stream.send(length === piece.byteLength ? piece : piece.subarray(0, length))
        // 'drain' fires on every window update the receiver sends, not once the buffer is empty:
        // waiting for one 'drain' per piece let the buffer grow past the stream's write limit
        // (with a 256 KiB window), so keep at most one piece waiting behind the one being sent
        while (stream.writeBufferLength > WRITE_BYTES) await drained(stream)
      }
      await stream.close()
      return await arrived
    } finally {
      this.#expected = undefined
    }
  }

  async stop(): Promise<void> {
    await this.#sender.stop()
    await this.#receiver.stop()
  }

  #receive(stream: Stream): void {
    const expected = this.#expected
    if (expected === undefined) {
      stream.abort(new Error('no bare transfer expected'))
      return
    }
    let received = 0
    let firstAt = 0
    stream.addEventListener('message', event => {
      if (received === 0) firstAt = performance.now()
      received += event.data.byteLength
      if (received >= expected.bytes) {
        expected.resolve({ bytes: received, ms: performance.now() - firstAt })
      }
    })
    stream.addEventListener('close', event => {
      const error = (event as Event & { error?: Error }).error
      if (received < expected.bytes) {
        expected.reject(
          error ?? new Error(`bare stream closed after ${received} of ${expected.bytes} bytes`),
        )
      }
    })
  }
}

function drained(stream: Stream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      stream.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = (): void => {
      stream.removeEventListener('drain', onDrain)
      reject(new Error('bare stream closed while the sender waited to write'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}
