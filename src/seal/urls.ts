import { namesOriginExactly } from '../csp/policy.js'

const SITE = 'https://csp-seal.invalid'

export type UrlTarget =
  /** A file of the site; `crossOrigin` is set when it is served from another origin (see `localUrls`). */
  { kind: 'local'; path: string; crossOrigin?: string } | { kind: 'remote'; url: URL } | { kind: 'unsupported'; reason: string }

/**
 * Resolves a URL written in `page` (a site-relative path) the way the browser will: against the page's
 * address under `base`, or against its `<base href>`. Local URLs become site-relative file paths without
 * query or fragment; `..` cannot climb above the site root.
 */
export function resolveUrl(raw: string, page: string, baseHref: string | undefined, base: string, localUrls: Record<string, string> = {}): UrlTarget {
  const written = raw.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '')
  if (written === '') return { kind: 'unsupported', reason: 'is empty' }
  const pageUrl = new URL(base + page.split('/').map(encodeURIComponent).join('/'), SITE)
  let documentBase = pageUrl
  if (baseHref !== undefined) {
    try {
      documentBase = new URL(baseHref, pageUrl)
    } catch {
      return { kind: 'unsupported', reason: `cannot be resolved: <base href="${baseHref}"> is not a valid URL` }
    }
  }
  let url: URL
  try {
    url = new URL(written, documentBase)
  } catch {
    return { kind: 'unsupported', reason: 'is not a valid URL' }
  }
  if (url.origin !== SITE) {
    // Its origin would go into the policy: as a wildcard, or as a source browsers drop.
    if ((url.protocol === 'http:' || url.protocol === 'https:') && !namesOriginExactly(url.origin)) {
      return { kind: 'unsupported', reason: `is on a host no policy can name exactly (${url.host})` }
    }
    for (const [prefix, folder] of Object.entries(localUrls)) {
      if (!url.href.startsWith(prefix)) continue
      const rest = safeDecode(url.pathname.slice(new URL(prefix).pathname.length))
      if (rest === undefined || rest === '' || rest.endsWith('/')) return { kind: 'unsupported', reason: 'does not name a file' }
      return { kind: 'local', path: folder + rest, crossOrigin: url.origin }
    }
    if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'remote', url }
    return { kind: 'unsupported', reason: `uses the ${url.protocol} scheme` }
  }
  if (!url.pathname.startsWith(base)) return { kind: 'unsupported', reason: `is outside the site's base path ${base}` }
  const path = safeDecode(url.pathname.slice(base.length))
  if (path === undefined) return { kind: 'unsupported', reason: 'has a malformed percent-encoding' }
  if (path === '' || path.endsWith('/')) return { kind: 'unsupported', reason: 'names a folder, not a file' }
  return { kind: 'local', path }
}

function safeDecode(path: string): string | undefined {
  try {
    return decodeURIComponent(path)
  } catch {
    return undefined
  }
}
