import {
  X509Certificate,
  createPublicKey,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto'
import { globMatcher } from './glob.js'
import { scanJson } from './json-scan.js'
import type { Revision } from './revision.js'

/** What one `_sigs/<name>.json` signature covers and whether it verifies. */
export interface SignatureReport {
  /** The `_sigs/…` key holding the signature. */
  key: string
  /** `alg` from the protected header (RS256, ES256, ES384, ES512), or '' when unreadable. */
  algorithm: string
  /** Top-level keys the signature covers, in document order. */
  covers: string[]
  /** Subject of the x5c leaf certificate, e.g. `CN=pv-developer-01`. */
  subject?: string
  /** Expiry of the x5c leaf certificate, as node prints it. */
  certificateValidTo?: string
  /** True when the signature verifies against the embedded key over exactly `covers`. */
  valid: boolean
  /** Why it is not valid. */
  reason?: string
}

interface Algorithm {
  hash: string
  keyType: 'rsa' | 'ec'
}

const ALGORITHMS: Readonly<Record<string, Algorithm>> = {
  RS256: { hash: 'sha256', keyType: 'rsa' },
  ES256: { hash: 'sha256', keyType: 'ec' },
  ES384: { hash: 'sha384', keyType: 'ec' },
  ES512: { hash: 'sha512', keyType: 'ec' },
}

/**
 * Checks every pvs@2 signature in the revision, the way Pantavisor's lenient
 * mode does: the payload is the covered top-level pairs, in document order,
 * as their raw text in the revision bytes, joined by commas inside `{}`; the
 * signing input is `protected.base64url(payload)`.
 *
 * `valid` means the signature verifies against the key of the x5c leaf
 * certificate (or the header's jwk when there is no x5c). Whether that
 * certificate chains to a trusted CA, and whether it has expired, is the
 * device's trust store's call and is not judged here.
 */
export function checkSignatures(revision: Revision): SignatureReport[] {
  const text = new TextDecoder().decode(revision.bytes)
  const members = scanJson(text).members
  return members
    .filter(member => member.key.startsWith('_sigs/'))
    .map(member => checkOne(revision, text, members, member.key))
}

function checkOne(
  revision: Revision,
  text: string,
  members: ReturnType<typeof scanJson>['members'],
  key: string,
): SignatureReport {
  const entry = revision.state[key] as Record<string, string>
  const protectedB64 = entry['protected'] ?? ''
  const invalid = (reason: string, partial: Partial<SignatureReport> = {}): SignatureReport => ({
    key,
    algorithm: '',
    covers: [],
    ...partial,
    valid: false,
    reason,
  })

  let header: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >
    if (typeof header !== 'object' || header === null) throw new Error('not an object')
  } catch {
    return invalid('protected header: expected base64url JSON object, found something else')
  }

  const algorithm = typeof header['alg'] === 'string' ? header['alg'] : ''
  if (header['typ'] !== 'PVS') {
    return invalid(`protected header typ: expected "PVS", found ${JSON.stringify(header['typ'])}`, {
      algorithm,
    })
  }
  const pvs = header['pvs'] as Record<string, unknown> | undefined
  const include = stringList(pvs?.['include'])
  const exclude = stringList(pvs?.['exclude'])
  if (include === undefined || exclude === undefined) {
    return invalid('protected header pvs: expected include and exclude string arrays', {
      algorithm,
    })
  }

  const included = include.map(globMatcher)
  const excluded = exclude.map(globMatcher)
  const covered = members.filter(
    m => included.some(match => match(m.key)) && !excluded.some(match => match(m.key)),
  )
  const covers = covered.map(m => m.key)
  const payload = `{${covered.map(m => text.slice(m.start, m.end)).join(',')}}`
  const signingInput = `${protectedB64}.${Buffer.from(payload, 'utf8').toString('base64url')}`

  const spec = ALGORITHMS[algorithm]
  if (spec === undefined) {
    return invalid(
      `alg: expected one of ${Object.keys(ALGORITHMS).join(', ')}, found ${JSON.stringify(algorithm)}`,
      { algorithm, covers },
    )
  }

  const signer = signingKeyOf(header)
  if (typeof signer === 'string') return invalid(signer, { algorithm, covers })
  const { publicKey, subject, certificateValidTo } = signer
  const known = {
    algorithm,
    covers,
    ...(subject === undefined ? {} : { subject, certificateValidTo }),
  }

  if (publicKey.asymmetricKeyType !== spec.keyType) {
    return invalid(
      `alg ${algorithm}: expected a ${spec.keyType} key, found ${publicKey.asymmetricKeyType ?? 'unknown'}`,
      known,
    )
  }

  const signature = Buffer.from(entry['signature'] ?? '', 'base64url')
  let ok = false
  try {
    // JWS carries ECDSA signatures as raw R‖S, not DER
    const keyInput =
      spec.keyType === 'ec' ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const } : publicKey
    ok = verify(spec.hash, Buffer.from(signingInput, 'utf8'), keyInput, signature)
  } catch (err) {
    return invalid(`verification failed: ${(err as Error).message}`, known)
  }
  if (ok) return { key, ...known, valid: true }
  return invalid(
    covers.length === 0
      ? 'signature does not verify; it covers no key of this state (stale: its keys were removed)'
      : `signature does not verify over the ${covers.length} covered keys (stale or tampered)`,
    known,
  )
}

interface SigningKey {
  publicKey: KeyObject
  subject?: string
  certificateValidTo?: string
}

/** The key of the x5c leaf certificate, else the header's jwk; a reason string when neither works. */
function signingKeyOf(header: Record<string, unknown>): SigningKey | string {
  try {
    const leaf = stringList(header['x5c'])?.[0]
    if (leaf !== undefined) {
      const certificate = new X509Certificate(Buffer.from(leaf, 'base64'))
      return {
        publicKey: certificate.publicKey,
        subject: certificate.subject,
        certificateValidTo: certificate.validTo,
      }
    }
    const jwk = header['jwk']
    if (typeof jwk === 'object' && jwk !== null) {
      return { publicKey: createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }) }
    }
    return 'expected an x5c certificate or a jwk in the protected header, found neither'
  } catch (err) {
    return `signing key: ${(err as Error).message}`
  }
}

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) return undefined
  return value as string[]
}
