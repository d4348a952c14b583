import { SealError, type Problem } from '../problems.js'

/** A parsed policy: directive name → source list, in the order written. */
export type Policy = Map<string, string[]>

type Grammar = 'sources' | 'ancestors' | 'sandbox' | 'uris' | 'token' | 'empty' | 'trusted-types' | 'tt-for' | 'webrtc'

const FETCH_DIRECTIVES = [
  'default-src',
  'script-src',
  'script-src-elem',
  'script-src-attr',
  'style-src',
  'style-src-elem',
  'style-src-attr',
  'img-src',
  'font-src',
  'connect-src',
  'media-src',
  'object-src',
  'frame-src',
  'child-src',
  'worker-src',
  'manifest-src',
  'fenced-frame-src',
] as const

/** Every directive csp-seal accepts (the CSP3 list). */
export type DirectiveName =
  | (typeof FETCH_DIRECTIVES)[number]
  | 'base-uri'
  | 'form-action'
  | 'frame-ancestors'
  | 'sandbox'
  | 'report-uri'
  | 'report-to'
  | 'upgrade-insecure-requests'
  | 'block-all-mixed-content'
  | 'trusted-types'
  | 'require-trusted-types-for'
  | 'webrtc'

/** A policy as an object: directive → sources (a string, a list, or `true` for a directive without value). */
export type PolicyObject = { readonly [name in DirectiveName]?: string | readonly string[] | true }

/** What a user may write for a policy: the header text, or an object whose keys are checked by TypeScript. */
export type PolicyInput = string | PolicyObject

const GRAMMAR: ReadonlyMap<string, Grammar> = new Map<DirectiveName, Grammar>([
  ...FETCH_DIRECTIVES.map((name) => [name, 'sources'] as [DirectiveName, Grammar]),
  ['base-uri', 'sources'],
  ['form-action', 'sources'],
  ['frame-ancestors', 'ancestors'],
  ['sandbox', 'sandbox'],
  ['report-uri', 'uris'],
  ['report-to', 'token'],
  ['upgrade-insecure-requests', 'empty'],
  ['block-all-mixed-content', 'empty'],
  ['trusted-types', 'trusted-types'],
  ['require-trusted-types-for', 'tt-for'],
  ['webrtc', 'webrtc'],
])

/** Directives a `<meta>` policy cannot carry (browsers ignore them there); they live in headers only. */
export const HEADER_ONLY_DIRECTIVES: readonly string[] = ['frame-ancestors', 'report-uri', 'report-to', 'sandbox']

const REMOVED_DIRECTIVES: Record<string, string> = {
  'plugin-types': "browsers removed it; use object-src 'none'",
  'prefetch-src': 'browsers removed it; prefetches follow default-src',
  'navigate-to': 'it was dropped from CSP3 and no browser enforces it',
  referrer: 'use the Referrer-Policy header',
  'reflected-xss': 'use the X-XSS-Protection header or nothing',
  'disown-opener': 'use the Cross-Origin-Opener-Policy header',
}

const KEYWORDS = new Set([
  "'self'",
  "'none'",
  "'unsafe-inline'",
  "'unsafe-eval'",
  "'strict-dynamic'",
  "'unsafe-hashes'",
  "'report-sample'",
  "'unsafe-allow-redirects'",
  "'wasm-unsafe-eval'",
  "'inline-speculation-rules'",
  "'trusted-types-eval'",
  "'report-sha256'",
  "'report-sha384'",
  "'report-sha512'",
])

const SANDBOX_TOKENS = new Set([
  'allow-downloads',
  'allow-forms',
  'allow-modals',
  'allow-orientation-lock',
  'allow-pointer-lock',
  'allow-popups',
  'allow-popups-to-escape-sandbox',
  'allow-presentation',
  'allow-same-origin',
  'allow-scripts',
  'allow-top-navigation',
  'allow-top-navigation-by-user-activation',
  'allow-top-navigation-to-custom-protocols',
  'allow-storage-access-by-user-activation',
])

const HASH_LENGTHS: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 }
const SCHEME = /^[a-z][a-z0-9+.-]*:$/i
const HOST_SOURCE = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(?:\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?)(?::(?:\d+|\*))?(?:\/(?!\/)[A-Za-z0-9\-._~%!$&()*+=:@/]*)?$/i
const HASH_SOURCE = /^'(sha256|sha384|sha512)-([A-Za-z0-9+/_-]+={0,2})'$/i
const NONCE_SOURCE = /^'nonce-/i

/** Fallback chains (CSP3 §6.8.3): which directive governs when a more specific one is absent. */
const FALLBACKS: Record<string, readonly string[]> = {
  'script-src-elem': ['script-src-elem', 'script-src', 'default-src'],
  'script-src-attr': ['script-src-attr', 'script-src', 'default-src'],
  'style-src-elem': ['style-src-elem', 'style-src', 'default-src'],
  'style-src-attr': ['style-src-attr', 'style-src', 'default-src'],
  'script-src': ['script-src', 'default-src'],
  'style-src': ['style-src', 'default-src'],
  'worker-src': ['worker-src', 'child-src', 'script-src', 'default-src'],
  'frame-src': ['frame-src', 'child-src', 'default-src'],
}

/** The directive that actually governs `name` in `policy` (after fallback), or undefined if nothing restricts it. */
export function governingDirective(policy: Policy, name: string): string | undefined {
  const chain = FALLBACKS[name] ?? (GRAMMAR.get(name) === 'sources' && name !== 'base-uri' && name !== 'form-action' ? [name, 'default-src'] : [name])
  return chain.find((candidate) => policy.has(candidate))
}

/** The source list that governs `name`, or undefined when `name` is unrestricted. */
export function governingSources(policy: Policy, name: string): readonly string[] | undefined {
  const directive = governingDirective(policy, name)
  return directive === undefined ? undefined : policy.get(directive)
}

export function isHashSource(source: string): boolean {
  return HASH_SOURCE.test(source)
}

/**
 * Whether a URL's origin (`https://cdn.example.com:8443`) written as a host source names that origin and no other.
 * A URL's host may hold what the source grammar does not (`_`, `&`, an IPv6 address): browsers drop such a source.
 * It may also hold `*`, which a policy reads as a wildcard: `https://*` would allow scripts from every host.
 */
export function namesOriginExactly(origin: string): boolean {
  return !origin.includes('*') && HOST_SOURCE.test(origin)
}

/**
 * Parses policy text (as in a header or meta tag) or a policy object, validating every directive
 * name and source expression. `origin` names where the policy came from, for messages.
 */
export function parsePolicy(input: PolicyInput, origin = 'policy'): Policy {
  const problems: Problem[] = []
  const policy: Policy = new Map()
  const add = (rawName: string, values: string[]) => {
    const name = rawName.toLowerCase()
    if (policy.has(name)) {
      problems.push({
        code: 'invalid-policy',
        message: `${origin}: directive "${name}" appears twice; browsers ignore the second one`,
        fix: 'merge the two source lists into one directive',
      })
      return
    }
    const checked = checkDirective(name, values, origin, problems)
    if (checked) policy.set(name, checked)
  }

  if (typeof input === 'string') {
    for (const smuggled of [',', '\0']) {
      if (input.includes(smuggled)) {
        problems.push({
          code: 'invalid-policy',
          message: `${origin}: "${smuggled === ',' ? ',' : 'NUL'}" is not allowed in a policy (a comma starts a second policy in a header)`,
          element: input,
          fix: 'separate directives with ";" and sources with spaces',
        })
      }
    }
    if (problems.length === 0) {
      for (const part of input.split(';')) {
        const tokens = part.split(/[\t\n\f\r ]+/).filter(Boolean)
        const [name, ...values] = tokens
        if (name) add(name, values)
      }
    }
  } else if (input && typeof input === 'object') {
    for (const [name, value] of Object.entries(input as Record<string, string | readonly string[] | true | undefined>)) {
      if (value === undefined) continue
      const values = value === true ? [] : typeof value === 'string' ? [value] : Array.isArray(value) ? [...value] : [value]
      const tokens: string[] = []
      for (const v of values) {
        if (typeof v !== 'string' || /[;,\0-\x1f\x7f]/.test(v)) {
          problems.push({
            code: 'invalid-policy',
            message: `${origin}: the value ${JSON.stringify(v)} of "${name}" contains ";", "," or a control character, which would change the policy's meaning`,
            fix: 'give each source as its own plain string',
          })
          continue
        }
        tokens.push(...v.split(' ').filter(Boolean))
      }
      if (/[^a-z-]/i.test(name)) {
        problems.push({
          code: 'invalid-policy',
          message: `${origin}: ${JSON.stringify(name)} is not a directive name`,
          fix: 'use a CSP directive such as "script-src"',
        })
        continue
      }
      add(name, tokens)
    }
  } else {
    problems.push({ code: 'invalid-policy', message: `${origin}: a policy must be a string or an object of directive → sources` })
  }
  if (problems.length) throw new SealError(problems)
  return policy
}

function checkDirective(name: string, values: string[], origin: string, problems: Problem[]): string[] | undefined {
  const grammar = GRAMMAR.get(name)
  const fail = (message: string, fix?: string) => {
    problems.push({ code: 'invalid-policy', message: `${origin}: ${message}`, fix })
    return undefined
  }
  if (!grammar) {
    const removed = REMOVED_DIRECTIVES[name]
    return fail(`unknown directive "${name}"`, removed ?? 'check the spelling against the CSP3 directive list')
  }
  for (const value of values) {
    if (/[^\x21-\x7e]/.test(value)) return fail(`"${value}" in ${name} has non-ASCII or control characters`, 'write hosts in punycode and percent-encode paths')
  }
  const normalized = values.map(normalizeSource)
  const bad = (value: string, what: string, fix: string) => fail(`"${value}" is not ${what} (in ${name})`, fix)

  switch (grammar) {
    case 'sources':
    case 'ancestors':
      for (const value of normalized) {
        if (NONCE_SOURCE.test(value)) {
          return fail(
            `a literal nonce ${value} in ${name} is never safe: a nonce must be new on every response`,
            'remove it; csp-seal hashes inline code, and its server runtime adds fresh nonces per response',
          )
        }
        if (grammar === 'ancestors' && !(value === "'self'" || value === "'none'" || value === '*' || SCHEME.test(value) || HOST_SOURCE.test(value))) {
          return bad(value, 'a valid frame-ancestors source', "use 'self', 'none', a scheme like https: or a host")
        }
        if (KEYWORDS.has(`'${value.toLowerCase()}'`))
          return bad(value, `a keyword without quotes (browsers read it as a host named "${value}")`, `write '${value.toLowerCase()}' with single quotes`)
        if (!isSourceExpression(value))
          return bad(value, 'a valid source expression', "quote keywords ('self'), write hashes as 'sha256-<base64>', hosts as https://example.com")
      }
      if (normalized.includes("'none'") && normalized.length > 1)
        return fail(`'none' in ${name} must stand alone; with other sources browsers ignore it`, "remove 'none' or the other sources")
      return normalized
    case 'sandbox':
      for (const value of values) if (!SANDBOX_TOKENS.has(value.toLowerCase())) return bad(value, 'a sandbox flag', 'use flags like allow-scripts, allow-forms')
      return values.map((v) => v.toLowerCase())
    case 'uris':
      if (values.length === 0) return fail(`${name} needs at least one URL`)
      for (const value of values)
        if (!/^(?:https?:\/\/|\/)[^\s;,'"<>\\]*$/i.test(value)) return bad(value, 'a report URL', 'use an absolute https:// URL or a path starting with /')
      return values
    case 'token':
      if (values.length !== 1 || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(values[0]!))
        return fail(`${name} takes exactly one endpoint name`, 'e.g. report-to csp-endpoint')
      return values
    case 'empty':
      if (values.length) return fail(`${name} takes no value`)
      return values
    case 'trusted-types':
      for (const value of values)
        if (!/^(?:[A-Za-z0-9\-#=_/@.%*]+|'none'|'allow-duplicates')$/i.test(value))
          return bad(value, 'a trusted-types policy name', "use policy names, 'none' or 'allow-duplicates'")
      return values
    case 'tt-for':
      if (values.length !== 1 || values[0]!.toLowerCase() !== "'script'") return fail(`${name} takes exactly 'script'`)
      return ["'script'"]
    case 'webrtc':
      if (values.length !== 1 || !["'allow'", "'block'"].includes(values[0]!.toLowerCase())) return fail(`${name} takes 'allow' or 'block'`)
      return [values[0]!.toLowerCase()]
  }
}

/** Keywords and hash algorithms are case-insensitive: write them lowercase so equal sources compare equal. */
function normalizeSource(value: string): string {
  const hash = HASH_SOURCE.exec(value)
  if (hash) return `'${hash[1]!.toLowerCase()}-${hash[2]}'`
  if (value.startsWith("'")) return value.toLowerCase().startsWith("'nonce-") ? value : value.toLowerCase()
  if (SCHEME.test(value)) return value.toLowerCase()
  return value
}

function isSourceExpression(value: string): boolean {
  if (KEYWORDS.has(value) || value === '*' || SCHEME.test(value)) return true
  const hash = HASH_SOURCE.exec(value)
  if (hash) return decodedLength(hash[2]!) === HASH_LENGTHS[hash[1]!.toLowerCase()]
  return !value.startsWith("'") && HOST_SOURCE.test(value)
}

function decodedLength(base64: string): number {
  const body = base64.replace(/=+$/, '')
  if (/[+/]/.test(body) && /[-_]/.test(body)) return -1
  return Math.floor((body.length * 3) / 4)
}

/** The policy as header/meta text: `name src src; name2 src`. */
export function serializePolicy(policy: Policy): string {
  return [...policy].map(([name, values]) => (values.length ? `${name} ${values.join(' ')}` : name)).join('; ')
}

/**
 * Merges policies per directive: the union of each directive's sources, first policy's order first.
 * `'none'` gives way to any real source; sandbox keeps only the flags all policies grant (stricter).
 */
export function mergePolicy(...policies: Policy[]): Policy {
  const merged: Policy = new Map()
  for (const policy of policies) {
    for (const [name, values] of policy) {
      const existing = merged.get(name)
      if (!existing) merged.set(name, [...values])
      else if (name === 'sandbox')
        merged.set(
          name,
          existing.filter((flag) => values.includes(flag)),
        )
      else if (name === 'report-to' || name === 'require-trusted-types-for' || name === 'webrtc') continue
      else merged.set(name, withSources(existing, values))
    }
  }
  return merged
}

/** Adds sources to a list without duplicates; `'none'` is dropped once anything real is allowed. */
export function withSources(list: readonly string[], sources: readonly string[]): string[] {
  const result = [...list]
  const seen = new Set(list)
  for (const source of sources) {
    if (seen.has(source)) continue
    seen.add(source)
    result.push(source)
  }
  return result.length > 1 ? result.filter((s) => s !== "'none'") : result
}

export function clonePolicy(policy: Policy): Policy {
  return new Map([...policy].map(([name, values]) => [name, [...values]]))
}

/** The policy minus the directives a meta tag cannot carry. */
export function metaPolicyOf(policy: Policy): Policy {
  return new Map([...policy].filter(([name]) => !HEADER_ONLY_DIRECTIVES.includes(name)))
}
