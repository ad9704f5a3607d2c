/**
 * Pantavisor revisions ("states"): parse and validate them, keep their exact
 * canonical bytes, import them from a pvr export or checkout into an object
 * sink, export them back, and check their pvs@2 signatures. Nothing here
 * touches the network or the store: the caller hands in the input to read and
 * the sink / source / writable to use.
 *
 * @example
 * const { revision, objects, warnings } = await importRevision('rev1.tgz', store)
 * revision.sha256            // the revision id
 * addedObjects(old, revision) // what a device running `old` must fetch
 * checkSignatures(revision)  // one report per _sigs/ entry
 * await exportPvr(revision, store, createWriteStream('out.tgz'), { gzip: true })
 */
export {
  addedObjects,
  isCanonical,
  parseRevision,
  type Revision,
  type RevisionObjectRef,
} from './revision.js'
export { discardingSink, type ObjectSink, type ObjectSource } from './objects.js'
export type { ImportedObject, ImportOptions, ImportResult } from './import-common.js'
export { importPvrExport, importPvrExportFile } from './pvr-export-import.js'
export { importPvrCheckout } from './pvr-checkout-import.js'
export { importRevision } from './import-revision.js'
export { exportPvr, type ExportOptions } from './pvr-export.js'
export { checkSignatures, type SignatureReport } from './signatures.js'
export { DEFAULT_MAX_STATE_BYTES, SIGNATURE_SPEC, STATE_SPEC } from './constants.js'
export {
  DanglingReferenceError,
  DuplicateKeyError,
  ExportSourceError,
  InvalidKeyError,
  InvalidRunManifestError,
  InvalidSignatureEntryError,
  InvalidStateError,
  InvalidValueError,
  ObjectSinkError,
  PvrCheckoutError,
  PvrCorruptArchiveError,
  PvrDuplicateMemberError,
  PvrExportError,
  PvrMemberNameError,
  PvrMemberTypeError,
  PvrMissingObjectsError,
  PvrObjectHashMismatchError,
  PvrObjectSizeMismatchError,
  PvrStateMemberError,
  StateSpecError,
  StateSyntaxError,
  StateTooLargeError,
} from './errors.js'
