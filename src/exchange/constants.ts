/** Protocol ids. The major version changes whenever a message stops being understood by the other. */
export const RELEASE_PROTOCOL = '/pvswarm/release/1.0.0'
export const HAVE_PROTOCOL = '/pvswarm/have/1.0.0'
export const CHUNK_PROTOCOL = '/pvswarm/chunk/2.0.0'

/** Largest control message (JSON) any protocol accepts. */
export const MAX_CONTROL_MESSAGE_BYTES = 64 * 1024

/**
 * Largest chunk a release may use (the release schema's own limit): a chunk response is this plus
 * a small header, so it is also the hard limit on a chunk-protocol message.
 */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024

/** Largest release, as it travels (the release schema's own limit). */
export const MAX_RELEASE_BYTES = 16 * 1024 * 1024

/** A have-map message carries one object's bitmap: 256 KiB of base64 covers 1.5 M chunks. */
export const MAX_HAVE_MESSAGE_BYTES = 256 * 1024

/** Releases one announcement may list (newest per fleet: a device is in few fleets). */
export const MAX_ANNOUNCED_RELEASES = 32

/** Chunk ids one have-map update may carry: 2 × 2048 numbers stay far below the message limit. */
export const MAX_HAVE_UPDATE_CHUNKS = 2048

/** A release id: opaque to the exchange, but short and plain so it is safe in logs and keys. */
export const RELEASE_ID = /^[0-9A-Za-z:_-]{1,128}$/

/** Defaults of ExchangeOptions and DownloadOptions, in one place. */
export const DEFAULTS = {
  // 2, not 5: a chunk reaches its receiver, who can pass it on, in 2/5 of the time. 16 devices on
  // 5 Mbit/s links (32 MiB, 128 KiB chunks): the floor's uplinks reached 75 % after 9 s instead
  // of 51 %, and the whole spread took 76-79 s instead of 81
  maxConcurrentUploads: 2,
  uploadRateBytesPerSecond: 0,
  maxPipelinedRequests: 64,
  // 16 devices on 5 Mbit/s links (bench spread, 128 KiB chunks): the longest a chunk waited to
  // leave was 7.4 s, with only the seed serving (15 peers on its one link)
  uploadDeadlineMs: 30_000,
  haveFlushIntervalMs: 100,
  releaseExchangeTimeoutMs: 30_000,
  maxReleasesPerAnnouncement: 8,
  rememberedReleaseIds: 1024,
  // 4, not 8: every chunk in flight is a chunk of network buffers the downloader holds. With one
  // peer on loopback (bench stream, 2 runs each) 4 moved 134.6 / 148.3 MiB/s against 152.2 /
  // 147.4 with 8, within the noise, and a device fetching 1 GiB (bench memory) peaked at
  // 143.6 / 147.3 MiB RSS against 154.8 / 167.4. 4 MiB in flight still covers a LAN's
  // bandwidth-delay product many times over; on slow links fewer requests wait behind each other
  // to time out.
  maxInFlightPerPeer: 4,
  maxInFlightTotal: 48,
  maxInFlightBytes: 64 * 1024 * 1024,
  timeoutFloorMs: 5_000,
  timeoutFactor: 4,
  initialRateBytesPerSecond: 1024 * 1024,
  maxConsecutiveTimeouts: 4,
  maxRequestsPerChunk: 2,
  waitForPeers: true,
  noSourceTimeoutMs: 10_000,
} as const
