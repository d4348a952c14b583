import { createHash, hash } from 'node:crypto'

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512'
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512']

/** Hash sources of short texts by algorithm: style attributes and small snippets repeat across a site's pages. */
const recent: Record<HashAlgorithm, Map<string, string>> = { sha256: new Map(), sha384: new Map(), sha512: new Map() }
const MEMO_TEXT = 512
const MEMO_ENTRIES = 4096

/** The CSP hash source for inline text: the browser hashes the UTF-8 encoding of the parsed text. */
export function cspHash(text: string, algorithm: HashAlgorithm = 'sha256'): string {
  const memo = recent[algorithm]
  if (memo === undefined || text.length > MEMO_TEXT) return `'${algorithm}-${hash(algorithm, text, 'base64')}'`
  let source = memo.get(text)
  if (source === undefined) {
    if (memo.size >= MEMO_ENTRIES) memo.clear()
    memo.set(text, (source = `'${algorithm}-${hash(algorithm, text, 'base64')}'`))
  }
  return source
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
