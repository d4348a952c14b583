import { hash } from 'node:crypto'

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
