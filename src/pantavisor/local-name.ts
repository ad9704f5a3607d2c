import { isValidLocalName, LOCAL_NAME_MAX_CHARS, LOCAL_REVISION_PREFIX } from './names.js'

const NAME_PREFIX = 'pvswarm-'
const UNSAFE = /[^A-Za-z0-9._-]+/g
const HASH_CHARS = 8

/**
 * The local revision a release is stored as on the device:
 * `locals/pvswarm-<fleet>-<sequence>`. The same release always gets the same
 * name, so a restarted hand-over finds what it stored before. When the plain
 * name would be too long or needs characters replaced, the fleet is cut short
 * and the first 8 hex digits of the release id are added, so two fleets never
 * share a name.
 */
export function localRevisionName(
  release: { fleet: string; sequence: number },
  releaseId: string,
): string {
  const plain = `${LOCAL_REVISION_PREFIX}${NAME_PREFIX}${release.fleet}-${release.sequence}`
  if (isValidLocalName(plain)) return plain

  const suffix = `-${release.sequence}-${releaseId.slice(0, HASH_CHARS)}`
  const room = LOCAL_NAME_MAX_CHARS - NAME_PREFIX.length - suffix.length
  const fleet = release.fleet.replace(UNSAFE, '_').slice(0, Math.max(0, room))
  const name = `${LOCAL_REVISION_PREFIX}${NAME_PREFIX}${fleet}${suffix}`
  if (!isValidLocalName(name)) {
    // Only a sequence of more than 40 digits gets here; releases cap it far below.
    throw new RangeError(
      `no valid local revision name for fleet ${release.fleet} sequence ${release.sequence}`,
    )
  }
  return name
}
