import { createHash } from 'node:crypto'

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512'
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512']

/** The CSP hash source for inline text: the browser hashes the UTF-8 encoding of the parsed text. */
export function cspHash(text: string, algorithm: HashAlgorithm = 'sha256'): string {
  return `'${algorithm}-${createHash(algorithm).update(text, 'utf8').digest('base64')}'`
}

/** A file's digests (base64) in every algorithm SRI knows: enough to check any integrity value, and to write one. */
export type Digests = Record<HashAlgorithm, string>

export function digestsOf(bytes: Uint8Array): Digests {
  const digest = (algorithm: HashAlgorithm) => createHash(algorithm).update(bytes).digest('base64')
  return { sha256: digest('sha256'), sha384: digest('sha384'), sha512: digest('sha512') }
}

/**
 * Whether an integrity attribute lets the browser use a file with these digests: only the strongest
 * algorithm listed counts, and any of its values may match (SRI §3.3.5). Undefined if the value is invalid.
 */
export function integrityAccepts(integrity: string, digests: Digests): boolean | undefined {
  const listed = integrity.split(/[\t\n\f\r ]+/).map((item) => /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})(?:\?.*)?$/.exec(item)).filter((m) => m !== null)
  if (listed.length === 0) return undefined
  const strongest = HASH_ALGORITHMS.filter((algorithm) => listed.some((m) => m[1] === algorithm)).pop()!
  return listed.some((m) => m[1] === strongest && m[2] === digests[strongest])
}

/** The SRI integrity value (`sha384-…`) of raw bytes. */
export function integrityOf(bytes: Uint8Array, algorithm: HashAlgorithm = 'sha384'): string {
  return `${algorithm}-${createHash(algorithm).update(bytes).digest('base64')}`
}
