import { cspHash, HASH_ALGORITHMS, type HashAlgorithm } from './hash.js'
import { governingSources, isHashSource, type Policy } from './policy.js'

/**
 * Hash sources (`'sha256-…'`) for inline code a page needs beyond what its own HTML holds, by the directive they
 * go in: the code of the site's other pages (one document can show them all), styles the site's JavaScript
 * inserts, hashes a crawl learned. They are added exactly like the page's own hashes.
 */
export interface ExtraHashes {
  scripts?: readonly string[]
  styles?: readonly string[]
  scriptAttributes?: readonly string[]
  styleAttributes?: readonly string[]
}

/** The directives that govern inline code: script and style elements, and their attributes. */
export type InlineDirective = 'script-src-elem' | 'script-src-attr' | 'style-src-elem' | 'style-src-attr'

export function isNonceSource(source: string): boolean {
  return source.toLowerCase().startsWith("'nonce-")
}

/**
 * Whether `'unsafe-inline'` is in force in a source list that governs `directive` (CSP3 §6.7.3.3, "does a source
 * list allow all inline behavior"): it is listed, and no hash or nonce switches it off; for scripts,
 * `'strict-dynamic'` switches it off too. `'unsafe-hashes'` alone does not.
 */
export function unsafeInlineInForce(list: readonly string[], directive: string): boolean {
  const scripts = directive.startsWith('script')
  let inForce = false
  for (const source of list) {
    if (isHashSource(source) || isNonceSource(source) || (scripts && source === "'strict-dynamic'")) return false
    if (source === "'unsafe-inline'") inForce = true
  }
  return inForce
}

/** Whether every inline element (or attribute) of this kind passes `policy`: nothing restricts it, or `'unsafe-inline'` is in force. */
export function allowsAllInline(policy: Policy, directive: InlineDirective): boolean {
  const list = governingSources(policy, directive)
  return list === undefined || unsafeInlineInForce(list, directive)
}

/**
 * Whether inline code with this text passes `policy` as a browser checks it: nothing restricts it, `'unsafe-inline'`
 * is in force, or the text's hash is listed (for attributes only together with `'unsafe-hashes'`).
 */
export function allowsInline(policy: Policy, directive: InlineDirective, text: string): boolean {
  const list = governingSources(policy, directive)
  if (list === undefined || unsafeInlineInForce(list, directive)) return true
  if (directive.endsWith('-attr') && !list.includes("'unsafe-hashes'")) return false
  const listed = new Set(list.filter(isHashSource).map(canonicalHash))
  if (listed.size === 0) return false
  return HASH_ALGORITHMS.some(
    (algorithm: HashAlgorithm) => [...listed].some((s) => s.startsWith(`'${algorithm}-`)) && listed.has(canonicalHash(cspHash(text, algorithm))),
  )
}

/** A hash source compared by its digest: lowercase algorithm, base64 without padding (a base64url value is the same digest). */
function canonicalHash(source: string): string {
  const dash = source.indexOf('-')
  return `${source.slice(0, dash).toLowerCase()}-${source
    .slice(dash + 1, -1)
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .replace(/=+$/, '')}'`
}
