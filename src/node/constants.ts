/**
 * Defaults of the libp2p node, in one place. Sizes were measured on this
 * project's build machine (libp2p 3.3.11, Node 24, 2 cores, loopback, one
 * stream, 1 MiB writes, receiver pausing for 30 ms every 8 MiB):
 *
 * | yamux window | read buffer | no pauses  | with pauses |
 * |--------------|-------------|------------|-------------|
 * | 1 MiB        | 2 MiB       | 262 MiB/s  | 121 MiB/s   |
 * | 2 MiB        | 4 MiB       | 257 MiB/s  | 132 MiB/s   |
 * | 4 MiB        | 8 MiB       | 239 MiB/s  | 134 MiB/s   |
 *
 * Beyond 2 MiB the window buys nothing on loopback or a LAN (1 Gbit/s x 1 ms
 * RTT needs 125 KB), it only costs memory.
 */

/** Where the node listens when `listen` is not given. */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0']

/** Connections kept open at most; a floor of devices rarely needs more neighbours than this. */
export const DEFAULT_MAX_CONNECTIONS = 64

/**
 * Largest receive window yamux may grant one stream. Once a reader pauses a
 * stream, the remote may still send one full window, which lands in the read
 * buffer: the window must stay well below `STREAM_READ_BUFFER_BYTES`.
 * yamux's own default (16 MiB) against libp2p's 4 MiB read buffer is what
 * aborts a paused fast stream with "Read buffer length … exceeded".
 *
 * It is also how much of one chunk transfer can sit in the sender's queues
 * ahead of everything else on that connection (requests, have-map updates,
 * pings): at 2 MiB a request waited seconds behind chunk data on a 10 Mbit/s
 * link and timed out. 1 MiB halves that and costs nothing measurable on
 * loopback (the stream bench). 256 KiB made no difference on the spread bench
 * (16 devices at 5 Mbit/s, 77.0 s against 76.4-79.3 s with 1 MiB): there the
 * hosts' TCP congestion windows, not yamux, decide what queues on a link.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024

/**
 * Bytes a stream may hold unread (paused, or no listener yet) before it is
 * aborted: one full window in flight when the pause began, plus the same
 * again for data that arrived before a listener attached. Worst-case receive
 * memory per connection is (open streams) x this.
 */
export const STREAM_READ_BUFFER_BYTES = 2 * STREAM_WINDOW_BYTES

/**
 * Bytes a stream may queue for sending before it is aborted, so a writer
 * that outruns the remote fails loudly instead of holding a whole object in
 * memory. libp2p's default is no limit. Waiting for 'drain' alone does not
 * keep under it (see sendBounded); waiting for 'idle' does.
 */
export const STREAM_WRITE_BUFFER_BYTES = 16 * 1024 * 1024

/** Pace of yamux keep-alive pings; liveness is judged by discovery's own pings. */
export const YAMUX_KEEPALIVE_MS = 15_000

/** Libp2p protocol of the fleet's own DHT, kept apart from the public IPFS DHT. */
export const DHT_PROTOCOL = '/pvswarm/kad/1.0.0'

/** How long the fleet (pnet) nonce exchange may take before the connection is dropped. */
export const FLEET_HANDSHAKE_TIMEOUT_MS = 5_000

/** Identity file name inside the data directory. */
export const IDENTITY_FILE = 'identity.key'
