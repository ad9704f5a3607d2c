import { PvswarmError } from '../util/errors.js'
import { shortId } from '../util/hex.js'

// Two families: the state itself breaks a rule (InvalidStateError and its
// subclasses, each naming the offending key), or the pvr export / checkout
// that carries it is unusable (PvrExportError and its subclasses, each naming
// the member or file). Callers can catch a family or one failure mode.

/** The state bytes are not UTF-8 JSON whose top level is an object. */
export class StateSyntaxError extends PvswarmError {
  static override readonly name = 'StateSyntaxError'

  constructor(readonly detail: string) {
    super(`state is not a JSON object: ${detail}`)
  }
}

/** The state is JSON but breaks a Pantavisor rule; `key` is the top-level key at fault. */
export class InvalidStateError extends PvswarmError {
  static override readonly name: string = 'InvalidStateError'

  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`state key ${JSON.stringify(key)}: ${message}`)
  }
}

/** `#spec` is missing or is not `pantavisor-service-system@1`. */
export class StateSpecError extends InvalidStateError {
  static override readonly name = 'StateSpecError'

  constructor(readonly found: unknown) {
    const got = found === undefined ? 'nothing (key missing)' : JSON.stringify(found)
    super('#spec', `expected "pantavisor-service-system@1", found ${got}`)
  }
}

/** A key is not a safe relative path (absolute, `..`, empty segment, backslash, control character). */
export class InvalidKeyError extends InvalidStateError {
  static override readonly name = 'InvalidKeyError'

  constructor(key: string, reason: string) {
    super(key, `expected a relative path inside the revision, found one that ${reason}`)
  }
}

/** A key holds a value of the wrong kind (not a lowercase sha, or inline JSON where none is allowed). */
export class InvalidValueError extends InvalidStateError {
  static override readonly name = 'InvalidValueError'

  constructor(key: string, expected: string, found: string) {
    super(key, `expected ${expected}, found ${found}`)
  }
}

/** The same member name appears twice in one JSON object, so parsers could disagree on it. */
export class DuplicateKeyError extends InvalidStateError {
  static override readonly name = 'DuplicateKeyError'

  /** @param key the top-level key holding the duplicate (the duplicate itself when top-level) */
  constructor(
    key: string,
    readonly member: string,
  ) {
    super(key, `member ${JSON.stringify(member)} appears more than once`)
  }
}

/** A run.json names a file (kernel, initrd, config, root volume…) that is not a key of the state. */
export class DanglingReferenceError extends InvalidStateError {
  static override readonly name = 'DanglingReferenceError'

  /**
   * @param key the run.json key
   * @param member the member of run.json naming the file (`linux`, `config`, `addons[0]`…)
   * @param target the state key that should exist
   */
  constructor(
    key: string,
    readonly member: string,
    readonly target: string,
  ) {
    super(
      key,
      `member ${member} names ${JSON.stringify(target)}, expected that key in the state, found none`,
    )
  }
}

/** A run.json is not shaped as Pantavisor reads it (wrong member type, no kernel…). */
export class InvalidRunManifestError extends InvalidStateError {
  static override readonly name = 'InvalidRunManifestError'
}

/** A `_sigs/` entry is not a pvs@2 object with string `protected` and `signature`. */
export class InvalidSignatureEntryError extends InvalidStateError {
  static override readonly name = 'InvalidSignatureEntryError'
}

/** The pvr export (archive or checkout) carrying a revision is unusable. */
export class PvrExportError extends PvswarmError {
  static override readonly name: string = 'PvrExportError'
}

/** An archive member is not a regular file (symlink, hard link, device, fifo, directory…). */
export class PvrMemberTypeError extends PvrExportError {
  static override readonly name = 'PvrMemberTypeError'

  constructor(
    readonly member: string,
    readonly type: string,
  ) {
    super(`pvr export member ${JSON.stringify(member)}: expected a regular file, found a ${type}`)
  }
}

/** An archive member's name is unsafe or is not `json` / `objects/<sha256>`. */
export class PvrMemberNameError extends PvrExportError {
  static override readonly name = 'PvrMemberNameError'

  constructor(
    readonly member: string,
    reason: string,
  ) {
    super(
      `pvr export member ${JSON.stringify(member)}: expected "json" or "objects/<lowercase sha256>", ` +
        `found a name that ${reason}`,
    )
  }
}

/** The same archive member appears twice. */
export class PvrDuplicateMemberError extends PvrExportError {
  static override readonly name = 'PvrDuplicateMemberError'

  constructor(readonly member: string) {
    super(`pvr export member ${JSON.stringify(member)}: expected once, found a second copy`)
  }
}

/** The archive does not start with the regular file `json`. */
export class PvrStateMemberError extends PvrExportError {
  static override readonly name = 'PvrStateMemberError'

  /** @param found the first member's name, or undefined for an empty archive */
  constructor(readonly found: string | undefined) {
    const got = found === undefined ? 'an empty archive' : JSON.stringify(found)
    super(`pvr export: expected the first member to be "json", found ${got}`)
  }
}

/** The state is larger than the configured limit. */
export class StateTooLargeError extends PvrExportError {
  static override readonly name = 'StateTooLargeError'

  constructor(
    readonly origin: string,
    readonly limitBytes: number,
    readonly foundBytes: number,
  ) {
    super(`${origin}: expected a state of at most ${limitBytes} bytes, found ${foundBytes}`)
  }
}

/** The archive cannot be read as gzip/tar (truncated, bad checksum, not a tar at all). */
export class PvrCorruptArchiveError extends PvrExportError {
  static override readonly name = 'PvrCorruptArchiveError'

  constructor(detail: string, options?: ErrorOptions) {
    super(`pvr export: expected a tar or gzip-compressed tar, ${detail}`, options)
  }
}

/** A pvr checkout lacks `.pvr/json`, or its `.pvr/config` is unreadable. */
export class PvrCheckoutError extends PvrExportError {
  static override readonly name = 'PvrCheckoutError'

  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`pvr checkout ${path}: ${message}`)
  }
}

/** An object's bytes do not hash to its name. The sink never received the complete bytes. */
export class PvrObjectHashMismatchError extends PvrExportError {
  static override readonly name = 'PvrObjectHashMismatchError'

  /** @param origin the archive member or file the bytes came from */
  constructor(
    readonly sha256: string,
    readonly actualSha256: string,
    readonly origin: string,
  ) {
    super(`${origin}: expected sha256 ${sha256}, found ${actualSha256}`)
  }
}

/** An object has a different length from the one announced for it. */
export class PvrObjectSizeMismatchError extends PvrExportError {
  static override readonly name = 'PvrObjectSizeMismatchError'

  constructor(
    readonly sha256: string,
    readonly expectedBytes: number,
    readonly foundBytes: number,
    readonly origin: string,
  ) {
    super(
      `${origin} (object ${shortId(sha256)}): expected ${expectedBytes} bytes, found ${foundBytes}`,
    )
  }
}

/** Objects the state references are not in the export / checkout. */
export class PvrMissingObjectsError extends PvrExportError {
  static override readonly name = 'PvrMissingObjectsError'

  constructor(
    readonly origin: string,
    readonly missing: readonly string[],
  ) {
    super(
      `${origin}: expected every object the state references, found ${missing.length} missing: ` +
        missing.join(', '),
    )
  }
}

/** An object source handed exportPvr fewer or more bytes than it said the object has. */
export class ExportSourceError extends PvswarmError {
  static override readonly name = 'ExportSourceError'

  constructor(
    readonly sha256: string,
    readonly expectedBytes: number,
    readonly foundBytes: number,
  ) {
    super(
      `export of object ${sha256}: expected ${expectedBytes} bytes from the source, ` +
        `found ${foundBytes}`,
    )
  }
}

/** An ObjectSink's put returned without reading all the bytes it was given: a sink bug. */
export class ObjectSinkError extends PvswarmError {
  static override readonly name = 'ObjectSinkError'

  constructor(
    readonly sha256: string,
    readonly size: number,
  ) {
    super(
      `object sink: put(${sha256}) returned before reading all ${size} bytes, expected it to read them`,
    )
  }
}
