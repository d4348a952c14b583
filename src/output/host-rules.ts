/**
 * What a host should do with each kind of file besides the sealed pages, for csp-seal's server runtime and the
 * header files alike: the policy of active documents that are not HTML, the files that describe the site and
 * are never served, and the file names whose content never changes.
 */

/**
 * Sent with documents a browser can open and run scripts in that csp-seal does not seal: SVG, XHTML and other
 * XML (an XSLT stylesheet can turn XML into HTML). Inline styles still apply, nothing runs, nothing loads, and
 * the document gets an opaque origin.
 */
export const DOCUMENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

/** Extensions of active non-HTML documents (lower case, without the dot). */
export const DOCUMENT_EXTENSIONS: readonly string[] = ['svg', 'svgz', 'xhtml', 'xht', 'xml', 'xsl', 'xslt', 'rss', 'atom']

const DOCUMENT = new RegExp(`\\.(?:${DOCUMENT_EXTENSIONS.join('|')})$`, 'i')

/** A file a browser renders as an active non-HTML document. */
export function isActiveDocument(path: string): boolean {
  return DOCUMENT.test(path)
}

/** A file a server sends as HTML: `.html` or `.htm`, in any case. */
export function isHtmlPath(path: string): boolean {
  return /\.html?$/i.test(path)
}

/** The lock file's default name; a lock file inside the site is never served either. */
export const LOCK_FILE = 'csp-seal.lock.json'

/**
 * Site-relative files csp-seal writes for servers, never for browsers: the manifest lists every page, unlinked
 * ones too, and the header files and the lock file describe the deployment.
 */
export function privateFiles(manifest: string | false = 'csp-seal.json'): string[] {
  return [...(manifest ? [manifest] : []), LOCK_FILE, '_headers', 'vercel.json', 'csp-seal.nginx.conf']
}

/** `Cache-Control` for a file whose name changes whenever its content does. */
export const IMMUTABLE = 'public, max-age=31536000, immutable'

// Folders whose files are content-hashed by their framework's contract: Next.js and SvelteKit.
const IMMUTABLE_FOLDERS = /(?:^|\/)(?:_next\/static|_app\/immutable)\//
// A hash segment before the extension: `name.0123abcd.js`, `name-0123abcd.js` (hex, with a digit and a letter).
const HEX_HASH = /[.-](?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}\.[A-Za-z0-9]+$/
// Vite and Rollup: `assets/name-BXkt1Jz3.js` (base64url, with an upper-case letter, a lower-case one and a digit).
const BASE64URL_HASH = /(?:^|\/)assets\/(?:[^/]*\/)*[^/]*[.-](?=[\w-]*[A-Z])(?=[\w-]*[a-z])(?=[\w-]*[0-9])[\w-]{8,64}\.[A-Za-z0-9]+$/

/**
 * Whether a site-relative file has a content-hashed name, so it may be cached for a year without revalidation.
 * Errs on the side of "no": a name it misses is only revalidated.
 */
export function isImmutableAsset(path: string): boolean {
  return IMMUTABLE_FOLDERS.test(path) || HEX_HASH.test(path) || BASE64URL_HASH.test(path)
}
