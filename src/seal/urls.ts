const SITE = 'https://csp-seal.invalid'

export type UrlTarget =
  | { kind: 'local'; path: string }
  | { kind: 'remote'; url: URL }
  | { kind: 'unsupported'; reason: string }

/**
 * Resolves a URL written in `page` (a site-relative path) the way the browser will: against the page's
 * address under `base`, or against its `<base href>`. Local URLs become site-relative file paths without
 * query or fragment; `..` cannot climb above the site root.
 */
export function resolveUrl(raw: string, page: string, baseHref: string | undefined, base: string): UrlTarget {
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
    if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'remote', url }
    return { kind: 'unsupported', reason: `uses the ${url.protocol} scheme` }
  }
  if (!url.pathname.startsWith(base)) return { kind: 'unsupported', reason: `is outside the site's base path ${base}` }
  let path: string
  try {
    path = decodeURIComponent(url.pathname.slice(base.length))
  } catch {
    return { kind: 'unsupported', reason: 'has a malformed percent-encoding' }
  }
  if (path === '' || path.endsWith('/')) return { kind: 'unsupported', reason: 'names a folder, not a file' }
  return { kind: 'local', path }
}
