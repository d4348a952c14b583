import type { FileHandle } from 'node:fs/promises'
import { open, realpath, stat } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import fresh from 'fresh'
import parseRange from 'range-parser'
import { DEFAULT_POLICY } from '../config.js'
import { DOCUMENT_POLICY, IMMUTABLE, isActiveDocument, isHtmlPath, isImmutableAsset, privateFiles } from '../output/host-rules.js'
import { digestOf, type Manifest, type ManifestPage } from '../output/manifest.js'
import { encodeUrlPath, resolutionSteps } from '../output/routes.js'
import { compressBytes, type Encoding, type FileBody } from './body.js'
import { contentTypeOf, isCompressible } from './content-types.js'
import { ManifestSource, manifestPath } from './manifest.js'
import { isInside } from '../safe-fs.js'
import { applyNonce, generateNonce, withHeaders } from './transform.js'

export interface ServerOptions {
  /** The sealed site folder: what `csp-seal <dir>` wrote, with its `csp-seal.json`. */
  root: string
  /** Add a fresh nonce to every HTML response. Default `true` (the reason to run this server). */
  nonce?: boolean
  /** The manifest, relative to `root` or absolute (outside the web root is fine). Default `csp-seal.json`. */
  manifest?: string
  /** URL path the site is served under. Default: the manifest's `base` (the build's `base`). */
  base?: string
  /**
   * The page served, with status 200, for URLs that match no file and have no extension (client-side routes
   * of a single-page app): a site-relative page, or URL prefixes (under the base) mapped to pages, the longest
   * prefix winning (`{ '/admin/': 'admin/index.html', '/': 'index.html' }`). It gets its nonce and policy like
   * any page. Default: `200.html` if the site has that page (the convention SvelteKit's static adapter and
   * Surge use), else none; `false` turns it off.
   */
  fallback?: string | Record<string, string> | false
  /**
   * The policy sent with an HTML page the manifest does not list (added or renamed after sealing), which is
   * served as it is. Default: csp-seal's default policy (`csp-seal serve` passes your config's policy).
   */
  policy?: string
  /** The policy sent with SVG, XHTML and XML documents; `false` sends none. Default {@link DOCUMENT_POLICY}. */
  documentPolicy?: string | false
  /** Compress text responses (gzip or Brotli, and `.br`/`.gz` files next to an asset). Default `true`. */
  compress?: boolean
  /**
   * Which files get `Cache-Control: public, max-age=31536000, immutable`: by default content-hashed names
   * (`name.0123abcd.js`, Vite's `assets/name-BXkt1Jz3.js`, `_next/static/`, `_app/immutable/`); `false` for none.
   * Other files are revalidated (`no-cache` with `ETag` and `Last-Modified`).
   */
  immutable?: ((file: string) => boolean) | false
  /**
   * Headers for everything that is not a sealed page (assets, 404s). Default: the headers that every page
   * of the manifest shares besides its policy, i.e. your `extraHeaders`.
   */
  assetHeaders?: Record<string, string>
  /** Where warnings go (a page that does not match the manifest, a page missing from it). Default `console.warn`. */
  log?: (message: string) => void
}

export interface Reply {
  status: number
  headers: Record<string, string>
  /** The body, or an open file to stream (the adapter closes it). Absent for 304, 416 and redirects. */
  body?: Uint8Array | FileBody
  /** Nothing here for this request (404, or a method we do not serve): a middleware passes it on. */
  passOn?: boolean
}

/** What a server may say about the site it serves. */
export interface SiteSummary {
  base: string
  pages: number
  /** The SPA fallback pages by URL prefix under the base (`''`: every path). */
  fallbacks: Array<[string, string]>
}

export interface ReplyRequest {
  method: string
  /** The URL path as sent, still percent-encoded, with or without `?query`. */
  path: string
  /** A request header by its lower-case name. */
  header(name: string): string | undefined
}

/** The runtime shared by the fetch handler and the Node middleware: request in, reply out. */
export interface SiteCore {
  reply(request: ReplyRequest): Promise<Reply>
  /** Reads the manifest now rather than on the first request (a server calls it once it listens). */
  warm(): Promise<SiteSummary>
}

const TEXT = 'text/plain; charset=utf-8'
const HTML = 'text/html; charset=utf-8'
const POLICY_HEADER_NAMES = new Set(['content-security-policy', 'content-security-policy-report-only', 'reporting-endpoints'])
/** Smaller bodies gain nothing from compression. */
const COMPRESS_FROM = 1024

interface LoadedSite {
  manifest: Manifest
  base: string
  assetHeaders: Record<string, string>
  /** Lower-case site-relative paths never served (compared without case: some file systems ignore it). */
  hidden: Set<string>
  /** URL prefix (site-relative, `''` for all) → fallback page, longest first. */
  fallbacks: Array<[string, string]>
  notFoundPage?: string
}

export function createCore(options: ServerOptions): SiteCore {
  const nonce = options.nonce ?? true
  const log = options.log ?? ((message: string) => console.warn(message))
  const compress = options.compress ?? true
  const immutable = options.immutable === false ? () => false : (options.immutable ?? isImmutableAsset)
  const documentPolicy = options.documentPolicy === undefined ? DOCUMENT_POLICY : options.documentPolicy
  const unsealedPolicy = options.policy ?? DEFAULT_POLICY
  const loggedOnce = new Map<string, string>()
  // Warn once per file and state, so a tampered page does not flood the log on every request.
  const warnOnce = (key: string, state: string, message: string) => {
    if (loggedOnce.get(key) === state) return
    loggedOnce.set(key, state)
    log(`csp-seal: ${message}`)
  }

  const absoluteRoot = resolve(options.root)
  let rootPromise: Promise<string> | undefined
  const realRoot = () =>
    (rootPromise ??= realpath(absoluteRoot).catch((error) => {
      rootPromise = undefined
      throw new Error(`the site folder ${options.root} cannot be read (${(error as Error).message})`)
    }))
  const source = new ManifestSource(
    manifestPath(absoluteRoot, options.manifest),
    (manifest) => siteOf(manifest, options),
    `seal the site first (npx csp-seal ${options.root})`,
  )

  const reply = async (request: ReplyRequest): Promise<Reply> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return {
        status: 405,
        headers: { Allow: 'GET, HEAD', 'Content-Type': TEXT, 'X-Content-Type-Options': 'nosniff' },
        body: text('Method Not Allowed\n'),
        passOn: true,
      }
    }
    const [root, site] = await Promise.all([realRoot(), source.get()])
    const query = request.path.includes('?') ? request.path.slice(request.path.indexOf('?')) : ''
    const rawPath = request.path.slice(0, request.path.length - query.length)
    const common = withHeaders(site.assetHeaders, { 'X-Content-Type-Options': 'nosniff' })
    const notFound = async (): Promise<Reply> => {
      const page = site.notFoundPage && (await locateFile(root, site, site.notFoundPage))
      if (page) return { ...(await servePage(site, page, request)), status: 404, passOn: true }
      return { status: 404, headers: withHeaders(common, { 'Content-Type': TEXT, 'Cache-Control': 'no-store' }), body: text('Not Found\n'), passOn: true }
    }

    const found = await locate(root, site, rawPath)
    if (found === undefined) return notFound()
    if ('redirect' in found) return { status: 301, headers: withHeaders(common, { Location: found.redirect + query, 'Cache-Control': 'no-store' }) }
    if (isHtmlPath(found.rel)) return servePage(site, found, request)
    return (await serveFile(found, request, common)) ?? notFound()
  }

  /** A page: with a fresh nonce when the manifest describes it, else with the site's default policy. */
  const servePage = async (site: LoadedSite, found: Found, request: ReplyRequest): Promise<Reply> => {
    const bytes = await readWhole(found.real)
    if (bytes === undefined)
      return { status: 404, headers: { 'Content-Type': TEXT, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }, body: text('Not Found\n') }
    const { rel } = found
    const page: ManifestPage | undefined = Object.hasOwn(site.manifest.pages, rel) ? site.manifest.pages[rel] : undefined
    let headers: Record<string, string>
    let body: Uint8Array = bytes
    if (!page) {
      warnOnce(rel, 'unsealed', `${rel} is not in the manifest: served as it is with the site's default policy (run csp-seal on the folder again)`)
      headers = withHeaders(site.assetHeaders, { 'Content-Security-Policy': unsealedPolicy, 'Content-Type': HTML, 'Cache-Control': 'no-store' })
    } else if (!nonce) {
      // Hash-only mode: the sealed file as it is; still say when it drifted from the manifest.
      const digest = digestOf(bytes)
      if (digest !== page.digest) warnOnce(rel, digest, mismatchMessage(rel))
      headers = withHeaders(page.headers, { 'Content-Type': HTML, 'Cache-Control': 'no-store' })
    } else {
      const result = applyNonce(bytes, page, generateNonce())
      if (result.fallback === 'digest-mismatch') warnOnce(rel, digestOf(bytes), mismatchMessage(rel))
      if (result.fallback === 'bad-slots')
        warnOnce(rel, 'bad-slots', `${rel}: the manifest's nonce slots do not point at script, style or link tags; the hash-only page was served`)
      headers = result.headers
      body = result.body
    }
    headers = withHeaders(headers, { 'X-Content-Type-Options': 'nosniff' })
    const encoding = compress && body.length >= COMPRESS_FROM ? preferredEncoding(request.header('accept-encoding')) : undefined
    if (encoding) {
      // The page is static, so nothing the request sends is reflected next to the nonce (no BREACH oracle).
      body = await compressBytes(body, encoding)
      headers = { ...headers, 'Content-Encoding': encoding, Vary: 'Accept-Encoding' }
    }
    return { status: 200, headers: { ...headers, 'Content-Length': String(body.length) }, body }
  }

  /** Any other file: types, caching, validators, ranges and compression. Undefined when it vanished. */
  const serveFile = async (found: Found, request: ReplyRequest, common: Record<string, string>): Promise<Reply | undefined> => {
    let file: FileHandle
    try {
      file = await open(found.real, 'r')
    } catch {
      return undefined // gone between the checks and the open
    }
    let keepOpen = false
    try {
      const info = await file.stat()
      if (!info.isFile()) return undefined
      const type = contentTypeOf(found.rel)
      const compressible = compress && isCompressible(type)
      const headers: Record<string, string> = withHeaders(common, { 'Content-Type': type, 'Accept-Ranges': 'bytes' })
      // Assets revalidate by default; a Cache-Control in your extraHeaders wins, else hashed names are immutable.
      if (!Object.keys(common).some((name) => name.toLowerCase() === 'cache-control')) headers['Cache-Control'] = immutable(found.rel) ? IMMUTABLE : 'no-cache'
      if (documentPolicy && isActiveDocument(found.rel)) headers['Content-Security-Policy'] = documentPolicy
      if (compressible) headers.Vary = 'Accept-Encoding'
      const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000).toUTCString()
      const tag = `${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}`
      const range = request.header('range')

      // A precompressed sibling (`app.js.br`), else compression on the way; a byte range is always of the file itself.
      let size = info.size
      let encoding: Encoding | undefined
      let onTheFly = false
      if (compressible && !range && info.size >= COMPRESS_FROM) {
        const accepted = acceptedEncodings(request.header('accept-encoding'))
        const precompressed = await openSibling(found.real, accepted)
        if (precompressed) {
          await file.close()
          ;({ file, size, encoding } = precompressed)
        } else {
          encoding = ENCODINGS.find((candidate) => accepted.has(candidate))
          onTheFly = encoding !== undefined
        }
      }
      const etag = encoding ? `W/"${tag}-${encoding}"` : `"${tag}"`
      Object.assign(headers, { ETag: etag, 'Last-Modified': lastModified })
      if (encoding) headers['Content-Encoding'] = encoding

      const conditional = { 'if-none-match': request.header('if-none-match'), 'if-modified-since': request.header('if-modified-since') }
      if ((conditional['if-none-match'] || conditional['if-modified-since']) && fresh(conditional, { etag, 'last-modified': lastModified })) {
        return { status: 304, headers }
      }
      let start = 0
      let end = size - 1
      let status = 200
      if (range && request.method === 'GET' && rangeStillValid(request.header('if-range'), etag, lastModified)) {
        const ranges = parseRange(size, range, { combine: true })
        if (ranges === -1) return { status: 416, headers: { ...headers, 'Content-Range': `bytes */${size}` } }
        // One range is served; several, or a malformed header, get the whole file (which HTTP allows).
        if (Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1) {
          start = ranges[0]!.start
          end = ranges[0]!.end
          status = 206
          headers['Content-Range'] = `bytes ${start}-${end}/${size}`
        }
      }
      // Compressed on the way, the length is known only at the end.
      if (!onTheFly) headers['Content-Length'] = String(end - start + 1)
      if (size === 0) return { status, headers, body: new Uint8Array(0) }
      keepOpen = true
      return { status, headers, body: { file, start, end, encoding: onTheFly ? encoding : undefined } }
    } finally {
      if (!keepOpen) await file.close()
    }
  }

  return {
    async reply(request) {
      try {
        return await reply(request)
      } catch (error) {
        const message = (error as Error).message
        warnOnce('\0error', message, message)
        return {
          status: 500,
          headers: { 'Content-Type': TEXT, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' },
          body: text('Internal Server Error\n'),
        }
      }
    },
    async warm() {
      const [, site] = await Promise.all([realRoot(), source.get()])
      return { base: site.base, pages: Object.keys(site.manifest.pages).length, fallbacks: site.fallbacks }
    },
  }
}

/** A file found for a URL: its real path and its path from the root (a symlink's target, as the manifest knows it). */
interface Found {
  real: string
  rel: string
}

type Located = Found | { redirect: string }

function siteOf(manifest: Manifest, options: ServerOptions): LoadedSite {
  const base = normalizeBase(options.base ?? manifest.base ?? '/')
  const pages = manifest.pages
  const isPage = (file: string) => Object.hasOwn(pages, file)
  const root = resolve(options.root)
  const manifestFile = manifestPath(root, options.manifest)
  const hidden = new Set(
    privateFiles(isInside(root, manifestFile) ? relative(root, manifestFile).split(sep).join('/') : false).map((file) => file.toLowerCase()),
  )
  let fallback = options.fallback
  if (fallback === undefined) fallback = isPage('200.html') ? '200.html' : false
  const fallbacks: Array<[string, string]> =
    fallback === false
      ? []
      : typeof fallback === 'string'
        ? [['', fallback]]
        : Object.entries(fallback).map(([prefix, file]) => [prefix.replace(/^\/+/, ''), file])
  for (const [, file] of fallbacks) {
    if (!isPage(file)) throw new Error(`the fallback page ${file} is not a sealed page of this site (run csp-seal on the folder, or fix the fallback)`)
  }
  fallbacks.sort(([a], [b]) => b.length - a.length)
  return {
    manifest,
    base,
    assetHeaders: options.assetHeaders ?? sharedHeaders(manifest),
    hidden,
    fallbacks,
    notFoundPage: isPage('404.html') ? '404.html' : undefined,
  }
}

/**
 * Maps a URL path to a file inside the site by the routing rule (`src/output/routes.ts`), then to the SPA
 * fallback for extensionless paths; or nothing. Refuses encoded separators and NUL, `.`/`..` and empty
 * segments, dotfiles (but `.well-known`), the files that describe the site, and any file whose real path
 * (symlinks resolved) is outside the root.
 */
async function locate(root: string, site: LoadedSite, rawPath: string): Promise<Located | undefined> {
  if (/%(2f|5c|00)/i.test(rawPath)) return undefined
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return undefined
  }
  if (path.includes('\0') || path.includes('\\')) return undefined
  const { base } = site
  if (`${path}/` === base) return { redirect: encodeUrlPath(base) }
  if (!path.startsWith(base)) return undefined
  const rel = path.slice(base.length)
  const segments = rel.split('/')
  const names = segments[segments.length - 1] === '' ? segments.slice(0, -1) : segments
  for (const [index, name] of names.entries()) {
    if (name === '' || name === '.' || name === '..') return undefined
    if (name.startsWith('.') && !(index === 0 && name === '.well-known')) return undefined
  }
  for (const step of resolutionSteps(rel)) {
    if (!(await isFile(join(root, ...step.file.split('/'))))) continue
    if (step.redirect !== undefined) return { redirect: encodeUrlPath(base + step.redirect) }
    return locateFile(root, site, step.file)
  }
  const last = names[names.length - 1] ?? ''
  if (last.includes('.')) return undefined
  const fallback = site.fallbacks.find(([prefix]) => rel.startsWith(prefix) || `${rel}/` === prefix)
  return fallback && locateFile(root, site, fallback[1])
}

/** A site-relative file, if it is a regular file whose real path is inside the root and not a private one. */
async function locateFile(root: string, site: LoadedSite, file: string): Promise<Found | undefined> {
  if (site.hidden.has(file.toLowerCase())) return undefined
  let real: string
  try {
    real = await realpath(join(root, ...file.split('/')))
  } catch {
    return undefined
  }
  if (!isInside(root, real)) return undefined
  const rel = relative(root, real).split(sep).join('/')
  if (site.hidden.has(rel.toLowerCase())) return undefined
  return { real, rel }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

async function readWhole(path: string): Promise<Buffer | undefined> {
  let file: FileHandle | undefined
  try {
    file = await open(path, 'r')
    if (!(await file.stat()).isFile()) return undefined
    return await file.readFile()
  } catch {
    return undefined
  } finally {
    await file?.close()
  }
}

/** Brotli first: smaller than gzip at the same speed for text. */
const ENCODINGS: readonly Encoding[] = ['br', 'gzip']
const SIBLING: Record<Encoding, string> = { br: '.br', gzip: '.gz' }

/** The encodings an `Accept-Encoding` header allows (q > 0), among the ones served here. */
export function acceptedEncodings(header: string | undefined): Set<Encoding> {
  const accepted = new Set<Encoding>()
  if (!header) return accepted
  const refused = new Set<string>()
  let wildcard = false
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';')
    const q = params.map((p) => /^\s*q\s*=\s*([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined)
    const weight = q === undefined ? 1 : Number(q)
    const token = name.trim()
    if (!(weight > 0)) refused.add(token)
    else if (token === '*') wildcard = true
    else if (token === 'br' || token === 'gzip') accepted.add(token)
  }
  if (wildcard) for (const encoding of ENCODINGS) if (!refused.has(encoding)) accepted.add(encoding)
  for (const token of refused) accepted.delete(token as Encoding)
  return accepted
}

function preferredEncoding(header: string | undefined): Encoding | undefined {
  const accepted = acceptedEncodings(header)
  return ENCODINGS.find((encoding) => accepted.has(encoding))
}

/** A precompressed `.br` / `.gz` file next to `real`, if one is accepted and is a regular file beside it. */
async function openSibling(real: string, accepted: Set<Encoding>): Promise<{ file: FileHandle; size: number; encoding: Encoding } | undefined> {
  for (const encoding of ENCODINGS) {
    if (!accepted.has(encoding)) continue
    const path = real + SIBLING[encoding]
    let file: FileHandle | undefined
    try {
      // The sibling must be a file in the same folder, never a link leading elsewhere.
      if ((await realpath(path)) !== path) continue
      file = await open(path, 'r')
      const info = await file.stat()
      if (info.isFile()) return { file, size: info.size, encoding }
      await file.close()
    } catch {
      await file?.close()
    }
  }
  return undefined
}

/** `If-Range`: a range is served only of the representation the client already has part of. */
function rangeStillValid(ifRange: string | undefined, etag: string, lastModified: string): boolean {
  if (!ifRange) return true
  if (ifRange.includes('"')) return !etag.startsWith('W/') && ifRange.trim() === etag
  return Date.parse(ifRange) === Date.parse(lastModified)
}

function mismatchMessage(rel: string): string {
  return `${rel} does not match the digest in the manifest (changed after sealing?): served the hash-only page without nonces; run csp-seal on the folder again`
}

function text(value: string): Uint8Array {
  return Buffer.from(value)
}

function normalizeBase(base: string): string {
  const withSlash = base.startsWith('/') ? base : `/${base}`
  return withSlash.endsWith('/') ? withSlash : `${withSlash}/`
}

/** The headers every page has besides its policy: the site-wide extras, sent with assets too. */
function sharedHeaders(manifest: Manifest): Record<string, string> {
  const pages = Object.values(manifest.pages)
  if (pages.length === 0) return {}
  const shared: Record<string, string> = {}
  for (const [name, value] of Object.entries(pages[0]!.headers)) {
    if (POLICY_HEADER_NAMES.has(name.toLowerCase())) continue
    if (pages.every((page) => page.headers[name] === value)) shared[name] = value
  }
  return shared
}
