/** The only `#spec` a Pantavisor system state may carry. */
export const STATE_SPEC = 'pantavisor-service-system@1'

/** The `#spec` of a `_sigs/<name>.json` signature entry. */
export const SIGNATURE_SPEC = 'pvs@2'

/** Largest state accepted from an export or checkout unless the caller says otherwise: 16 MiB. */
export const DEFAULT_MAX_STATE_BYTES = 16 * 1024 * 1024

/**
 * Modification time written on every exported member, so the same revision
 * always exports to the same tar bytes (the fixtures use the same instant).
 */
export const EXPORT_MTIME = new Date('2025-01-01T00:00:00Z')

/** Mode of every exported member: a plain readable file. */
export const EXPORT_MODE = 0o644

/** Name of the state member in a pvr export, and of the state file in a checkout's `.pvr/`. */
export const STATE_MEMBER = 'json'

/** Directory prefix of object members in a pvr export. */
export const OBJECTS_PREFIX = 'objects/'
