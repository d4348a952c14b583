import { governingDirective, type Policy } from './policy.js'

/**
 * Whether a policy lets a page fetch a URL: the source-list matching of CSP3 §6.7.2 ("Does url match source list").
 * csp-seal seals files, not a deployed origin, so the page's own origin is unknown: a URL the page names relative to
 * itself (`/img/a.png`, `a.png`) is same-origin, an absolute one is taken as another origin, and the page is taken to
 * be served over https.
 */

/** A URL as the policy sees it: same-origin (relative), or absolute with its parts. */
export type PolicyUrl = { kind: 'same-origin' } | { kind: 'absolute'; scheme: string; host: string; port: number | null; path: string; href: string }

/** The scheme csp-seal takes the sealed pages to be served over (for host-sources that name no scheme). */
const PAGE_SCHEME = 'https'
const PLACEHOLDER_ORIGIN = 'https://csp-seal.invalid'
const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443, ftp: 21 }
/** Schemes whose fetches a source list governs; others (mailto:, tel:, about:, javascript:) are left alone here. */
const FETCH_SCHEMES = new Set(['http', 'https', 'ws', 'wss', 'data', 'blob', 'filesystem'])

/**
 * Reads a URL as the page names it; `base` is the page's `<base href>`, if any. Undefined for what no source list
 * governs: an empty value, a fragment, `about:`, `javascript:` (reported elsewhere), `mailto:` and the like.
 */
export function policyUrl(raw: string, base?: string): PolicyUrl | undefined {
  const value = raw.replace(/^[\0- ]+|[\0- ]+$/g, '')
  if (value === '' || value.startsWith('#')) return undefined
  let baseUrl = `${PLACEHOLDER_ORIGIN}/`
  if (base !== undefined) {
    try {
      baseUrl = new URL(base, baseUrl).href
    } catch {
      // A base the browser cannot parse is ignored, as browsers do.
    }
  }
  let url: URL
  try {
    url = new URL(value, baseUrl)
  } catch {
    return undefined
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  if (!FETCH_SCHEMES.has(scheme)) return undefined
  if (url.origin === PLACEHOLDER_ORIGIN) return { kind: 'same-origin' }
  return { kind: 'absolute', scheme, host: url.hostname.toLowerCase(), port: url.port === '' ? null : Number(url.port), path: url.pathname, href: url.href }
}

/** The outcome of matching a URL against the directive that governs it. */
export interface MatchOutcome {
  allowed: boolean
  /** The directive whose sources decided (after fallback), or undefined when nothing restricts the fetch. */
  governing?: string
  sources?: readonly string[]
}

/** Whether `policy` lets the page fetch `url` under `directive` (following the CSP3 fallback chain). */
export function policyAllows(policy: Policy, directive: string, url: PolicyUrl): MatchOutcome {
  const governing = governingDirective(policy, directive)
  if (governing === undefined) return { allowed: true }
  const sources = policy.get(governing)!
  return { allowed: sourceListAllows(sources, url), governing, sources }
}

/** CSP3 "Does url match source list": whether any source expression in `list` matches `url`. */
export function sourceListAllows(list: readonly string[], url: PolicyUrl): boolean {
  return list.some((source) => sourceAllows(source, url))
}

/** CSP3 "Does url match expression in origin" (with no redirect), for one source expression. */
export function sourceAllows(source: string, url: PolicyUrl): boolean {
  const expression = source.toLowerCase()
  if (url.kind === 'same-origin') {
    // Same origin: 'self' and '*' match it, so does a scheme-source for the page's scheme. A host-source might name
    // the site's own host, which csp-seal cannot know: it counts as a match, so nothing is reported that may load.
    if (expression === "'self'" || expression === '*') return true
    if (expression.startsWith("'")) return false
    const scheme = /^([a-z][a-z0-9+.-]*):$/.exec(expression)
    if (scheme) return schemeMatches(scheme[1]!, PAGE_SCHEME)
    return true
  }
  if (expression === '*') return url.scheme === 'http' || url.scheme === 'https' || url.scheme === 'ws' || url.scheme === 'wss' || url.scheme === PAGE_SCHEME
  // Keywords, hashes and nonces match no URL here ('self' needs the page's origin, which an absolute URL is taken not to be).
  if (expression.startsWith("'")) return false
  const schemeOnly = /^([a-z][a-z0-9+.-]*):$/.exec(expression)
  if (schemeOnly) return schemeMatches(schemeOnly[1]!, url.scheme)
  const host = parseHostSource(source)
  if (!host) return false
  if (host.scheme !== undefined ? !schemeMatches(host.scheme, url.scheme) : !schemeMatches(PAGE_SCHEME, url.scheme)) return false
  if (url.host === '' || !hostMatches(host.host, url.host)) return false
  if (!portMatches(host.port, url)) return false
  return host.path === undefined || pathMatches(host.path, url.path)
}

interface HostSource {
  scheme?: string
  host: string
  port?: string
  path?: string
}

const HOST_SOURCE = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?)(?::(\d+|\*))?(\/[^?#]*)?$/i

function parseHostSource(source: string): HostSource | undefined {
  const match = HOST_SOURCE.exec(source)
  if (!match) return undefined
  return { scheme: match[1]?.toLowerCase(), host: match[2]!.toLowerCase().replace(/\.$/, ''), port: match[3], path: match[4] }
}

/** CSP3 "scheme-part match": the same scheme, or the secure upgrade of it (http: allows https, ws: allows wss, http and https). */
export function schemeMatches(expression: string, scheme: string): boolean {
  if (expression === scheme) return true
  if (expression === 'http') return scheme === 'https'
  if (expression === 'ws') return scheme === 'wss' || scheme === 'http' || scheme === 'https'
  if (expression === 'wss') return scheme === 'https'
  return false
}

/** CSP3 "host-part match": `*` any host, `*.example.com` any subdomain (not the domain itself), else the same host. */
function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1))
  // An IP address matches only itself; an IPv6 literal never matches a host-source (CSP3 forbids them there).
  return pattern === host.replace(/\.$/, '')
}

/** CSP3 "port-part match": no port means the scheme's default; `*` any port; else the same port. */
function portMatches(port: string | undefined, url: Extract<PolicyUrl, { kind: 'absolute' }>): boolean {
  if (port === '*') return true
  const wanted = port === undefined ? null : Number(port)
  if (wanted === url.port) return true
  // URL parsing drops a scheme's default port: a URL without one is on it.
  if (url.port === null) return wanted === (DEFAULT_PORTS[url.scheme] ?? null)
  return false
}

/**
 * CSP3 "path-part match": a path ending in `/` allows everything under it; any other path allows exactly itself.
 * Segments are compared percent-decoded.
 */
function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '' || pattern === '/') return true
  const exact = !pattern.endsWith('/')
  const want = (exact ? pattern : pattern.slice(0, -1)).split('/')
  const have = path.split('/')
  if (exact ? want.length !== have.length : want.length > have.length) return false
  return want.every((segment, i) => decode(segment) === decode(have[i]!))
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * The source that allows a blocked URL with the least reach: its scheme for `data:`/`blob:`, else its origin
 * (scheme, host, and port when not the default).
 */
export function sourceFor(url: Extract<PolicyUrl, { kind: 'absolute' }>): string {
  if (url.host === '') return `${url.scheme}:`
  return `${url.scheme}://${url.host}${url.port === null ? '' : `:${url.port}`}`
}
