/** Free space the store always leaves alone unless told otherwise: 64 MiB. */
export const DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024
