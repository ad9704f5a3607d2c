/** Free space the store always leaves alone unless told otherwise: 64 MiB. */
export const DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024

/** Threads hashing chunks and objects being filled off the event loop; see StoreOptions. */
export const DEFAULT_HASH_THREADS = 1
