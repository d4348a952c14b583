import { unsafeInlineInForce } from './inline.js'
import { governingDirective, isHashSource, withSources, type Policy } from './policy.js'

export type Family = 'script' | 'style'
export type Place = 'elem' | 'attr'

export interface AllowOutcome {
  /** Directive the sources went into, if any were needed. */
  directive?: string
  /** Set when the governing directive keeps `'unsafe-inline'`, so hashes were withheld (adding one would disable it). */
  keptUnsafeInline?: string
}

/** Sources that switch `'unsafe-inline'` off in their directive (`'unsafe-hashes'` is of no use without hashes). */
const SWITCHES_INLINE_OFF = (source: string) =>
  isHashSource(source) || source.toLowerCase().startsWith("'nonce-") || source === "'strict-dynamic'" || source === "'unsafe-hashes'"

/**
 * Allows `sources` for script/style elements or attributes, following CSP fallback so that nothing the
 * user allowed is lost: sources go into `X-src-elem` if the user set it, else `X-src`; attribute sources
 * into `X-src-attr`. A directive that does not exist yet is created from the list that governed it until
 * now (`default-src` for `X-src`), so `'self'` and friends survive. Where `'unsafe-inline'` is in force, no
 * hash, nonce or `'strict-dynamic'` is added (it would switch `'unsafe-inline'` off). Mutates `policy`.
 */
export function allow(policy: Policy, family: Family, place: Place, sources: readonly string[]): AllowOutcome {
  if (sources.length === 0) return {}
  const specific = `${family}-src-${place}`
  const governing = governingDirective(policy, specific)
  if (governing === undefined) return {} // nothing restricts these: nothing to add
  const governingList = policy.get(governing)!
  let wanted = sources
  let keptUnsafeInline: string | undefined
  // 'unsafe-inline' already switched off (next to 'strict-dynamic', a hash or a nonce) is a fallback for old browsers: adding keeps it so.
  if (unsafeInlineInForce(governingList, specific)) {
    wanted = sources.filter((s) => !SWITCHES_INLINE_OFF(s))
    if (wanted.length < sources.length) keptUnsafeInline = governing
    if (wanted.length === 0) return { keptUnsafeInline }
  }
  const target = place === 'attr' || policy.has(specific) ? specific : `${family}-src`
  const base = policy.get(target) ?? (place === 'attr' ? attributeSources(governingList) : governingList)
  policy.set(target, withSources(base, wanted))
  return { directive: target, keptUnsafeInline }
}

/**
 * Adds a per-response nonce for script and style elements, by the rules hashes follow ({@link allow}): into
 * `X-src-elem` if set, else `X-src` (created from `default-src`), never where `'unsafe-inline'` is in force.
 * Not where the user wrote `'none'` for that family's elements (no run-time code at all); `default-src 'none'`
 * is a default that csp-seal refines as it does for hashes, so there the nonce is added.
 */
export function allowNonce(policy: Policy, nonce: string): void {
  for (const family of ['script', 'style'] as const) {
    const directive = governingDirective(policy, `${family}-src-elem`)
    if (directive === undefined) continue
    const list = policy.get(directive)!
    if (directive !== 'default-src' && list.length === 1 && list[0] === "'none'") continue
    allow(policy, family, 'elem', [`'nonce-${nonce}'`])
  }
}

/** True when same-origin URLs are allowed for `directive` by origin (`'self'` or `*`, and no `'strict-dynamic'`). */
export function allowsSelf(policy: Policy, directive: string): boolean {
  const governing = governingDirective(policy, directive)
  if (governing === undefined) return true
  const list = policy.get(governing)!
  if (directive.startsWith('script') && list.includes("'strict-dynamic'")) return false
  return list.includes("'self'") || list.includes('*')
}

/** The part of a source list that ever applied to attributes: hashes count only with 'unsafe-hashes'. */
function attributeSources(list: readonly string[]): string[] {
  const hashesApply = list.includes("'unsafe-hashes'")
  return list.filter((s) => s === "'report-sample'" || (hashesApply && (s === "'unsafe-hashes'" || isHashSource(s))))
}
