import { createHash } from 'node:crypto'
import ssri from 'ssri'
import { HASH_ALGORITHMS, type HashAlgorithm } from '../csp/hash.js'

/** A file's digests (base64) in every algorithm SRI knows: enough to check any integrity value, and to write one. */
export type Digests = Record<HashAlgorithm, string>

export function digestsOf(bytes: Uint8Array): Digests {
  const digest = (algorithm: HashAlgorithm) => createHash(algorithm).update(bytes).digest('base64')
  return { sha256: digest('sha256'), sha384: digest('sha384'), sha512: digest('sha512') }
}

/** The SRI integrity value (`sha384-…`) of raw bytes. */
export function integrityOf(bytes: Uint8Array, algorithm: HashAlgorithm = 'sha384'): string {
  return `${algorithm}-${createHash(algorithm).update(bytes).digest('base64')}`
}

/** One hash of an integrity value, as a browser reads it. */
interface IntegrityHash {
  algorithm: HashAlgorithm
  /** Base64. */
  digest: string
}

const DIGEST = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * The hashes of an integrity attribute that browsers use (SRI §3.3.3): ssri splits the value into
 * `algorithm-digest?options` items; items of an algorithm SRI does not know, or whose digest is not base64,
 * are ignored (a value with none left is reported as invalid, never guessed at).
 */
function parseIntegrity(value: string): IntegrityHash[] {
  const parsed = ssri.parse(value)
  if (!parsed) return []
  const hashes: IntegrityHash[] = []
  for (const algorithm of HASH_ALGORITHMS) {
    for (const hash of (parsed as unknown as Record<string, ssri.Hash[] | undefined>)[algorithm] ?? []) {
      if (DIGEST.test(hash.digest)) hashes.push({ algorithm, digest: hash.digest })
    }
  }
  return hashes
}

/**
 * Whether an integrity attribute lets the browser use a file with these digests: only the strongest
 * algorithm listed counts, and any of its values may match (SRI §3.3.5). Undefined if the value holds no hash.
 */
export function integrityAccepts(integrity: string, digests: Digests): boolean | undefined {
  const hashes = parseIntegrity(integrity)
  if (hashes.length === 0) return undefined
  const strongest = HASH_ALGORITHMS.filter((algorithm) => hashes.some((h) => h.algorithm === algorithm)).pop()!
  return hashes.some((h) => h.algorithm === strongest && h.digest === digests[strongest])
}

/** True if bytes satisfy an integrity value the way a browser checks it. */
export function bytesMatch(bytes: Uint8Array, integrity: string): boolean {
  return integrityAccepts(integrity, digestsOf(bytes)) === true
}

/**
 * The CSP hash sources that allow an external script by its integrity attribute (CSP3 external hashes): the
 * script passes a policy that lists every one of them.
 */
export function integritySources(integrity: string): string[] {
  return [...new Set(parseIntegrity(integrity).map((h) => `'${h.algorithm}-${h.digest}'`))]
}

/** Whether a policy's source list allows an external script by its integrity attribute: every hash of it is listed. */
export function integrityAllowedBy(integrity: string, list: readonly string[]): boolean {
  const sources = integritySources(integrity)
  return sources.length > 0 && sources.every((source) => list.includes(source))
}

/** Digests by path, each file read and hashed once (the promise is shared by every page that names it). */
export function cachedDigests(read: (path: string) => Promise<Uint8Array | undefined>): (path: string) => Promise<Digests | undefined> {
  const cache = new Map<string, Promise<Digests | undefined>>()
  return (path) => {
    let value = cache.get(path)
    if (!value) cache.set(path, (value = read(path).then((bytes) => (bytes ? digestsOf(bytes) : undefined))))
    return value
  }
}
