import { open, readFile, realpath, stat, type FileHandle } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { digestOf, type Manifest, type ManifestPage } from '../output/manifest.js'
import { contentTypeOf, isHtmlPath } from './content-types.js'
import { parseManifest } from './manifest.js'
import { isInside } from './paths.js'
import { applyNonce, generateNonce, withHeaders } from './transform.js'

export interface ServerOptions {
  /** The sealed site folder: what `csp-seal <dir>` wrote, with its `csp-seal.json`. */
  root: string
  /** Add a fresh nonce to every HTML response. Default `true` (the reason to run this server). */
  nonce?: boolean
  /** The manifest, relative to `root` or absolute. Default `csp-seal.json`. */
  manifest?: string
  /** URL path the site is served under. Default: the manifest's `base` (the build's `base`). */
  base?: string
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
  /** The body, or an open file to stream (the adapter closes it). Absent for 304 and redirects. */
  body?: Uint8Array | { file: FileHandle; size: number }
  /** Nothing here for this request (404, or a method we do not serve): a middleware passes it on. */
  passOn?: boolean
}

export interface ReplyRequest {
  method: string
  /** The URL path as sent, still percent-encoded, with or without `?query`. */
  path: string
  ifNoneMatch?: string | null
}

/** The runtime shared by the fetch handler and the Node middleware: request in, reply out. */
export interface SiteCore {
  reply(request: ReplyRequest): Promise<Reply>
}

const TEXT = 'text/plain; charset=utf-8'
const POLICY_HEADER_NAMES = new Set(['content-security-policy', 'content-security-policy-report-only', 'reporting-endpoints'])

interface LoadedSite {
  root: string
  manifest: Manifest
  base: string
  assetHeaders: Record<string, string>
}

export function createCore(options: ServerOptions): SiteCore {
  const nonce = options.nonce ?? true
  const log = options.log ?? ((message: string) => console.warn(message))
  const loggedOnce = new Map<string, string>()
  // Warn once per file and state, so a tampered page does not flood the log on every request.
  const warnOnce = (key: string, state: string, message: string) => {
    if (loggedOnce.get(key) === state) return
    loggedOnce.set(key, state)
    log(`csp-seal: ${message}`)
  }

  let rootPromise: Promise<string> | undefined
  let cached: { key: string; site: LoadedSite } | undefined

  // The manifest is re-read only when the file changes (a new build), so a long-running server follows rebuilds.
  const load = async (): Promise<LoadedSite> => {
    rootPromise ??= realpath(resolve(options.root)).catch((error) => {
      rootPromise = undefined
      throw new Error(`the site folder ${options.root} cannot be read (${(error as Error).message})`)
    })
    const root = await rootPromise
    const manifestPath = isAbsolute(options.manifest ?? '') ? options.manifest! : join(root, options.manifest ?? 'csp-seal.json')
    let key: string
    try {
      const info = await stat(manifestPath)
      key = `${info.ino}:${info.size}:${info.mtimeMs}`
    } catch {
      throw new Error(`${manifestPath} does not exist: seal the site first (npx csp-seal ${options.root})`)
    }
    if (cached?.key === key) return cached.site
    const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath)
    const base = normalizeBase(options.base ?? manifest.base ?? '/')
    const site = { root, manifest, base, assetHeaders: options.assetHeaders ?? sharedHeaders(manifest) }
    cached = { key, site }
    return site
  }

  const reply = async (request: ReplyRequest): Promise<Reply> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return { status: 405, headers: { Allow: 'GET, HEAD', 'Content-Type': TEXT, 'X-Content-Type-Options': 'nosniff' }, body: text('Method Not Allowed\n'), passOn: true }
    }
    const site = await load()
    const query = request.path.includes('?') ? request.path.slice(request.path.indexOf('?')) : ''
    const rawPath = request.path.slice(0, request.path.length - query.length)
    const common = withHeaders(site.assetHeaders, { 'X-Content-Type-Options': 'nosniff' })
    const notFound: Reply = { status: 404, headers: withHeaders(common, { 'Content-Type': TEXT, 'Cache-Control': 'no-store' }), body: text('Not Found\n'), passOn: true }

    const found = await locate(site, rawPath)
    if (found === undefined) return notFound
    if ('redirect' in found) return { status: 301, headers: withHeaders(common, { Location: found.redirect + query, 'Cache-Control': 'no-store' }) }

    let file: FileHandle
    try {
      file = await open(found.real, 'r')
    } catch {
      return notFound // gone between the checks and the open
    }
    let keepOpen = false
    try {
      const info = await file.stat()
      if (!info.isFile()) return notFound
      if (!isHtmlPath(found.rel)) {
        const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`
        // Assets revalidate by default; a Cache-Control in your extraHeaders (e.g. for hashed file names) wins.
        const caching: Record<string, string> = Object.keys(common).some((name) => name.toLowerCase() === 'cache-control') ? {} : { 'Cache-Control': 'no-cache' }
        const headers = withHeaders(common, { 'Content-Type': contentTypeOf(found.rel), ...caching, ETag: etag })
        if (request.ifNoneMatch && request.ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) return { status: 304, headers }
        keepOpen = true
        return { status: 200, headers: { ...headers, 'Content-Length': String(info.size) }, body: { file, size: info.size } }
      }
      const bytes = await file.readFile()
      return { status: 200, ...htmlReply(site, found.rel, bytes) }
    } finally {
      if (!keepOpen) await file.close()
    }
  }

  const htmlReply = (site: LoadedSite, rel: string, bytes: Uint8Array): Omit<Reply, 'status'> => {
    const page: ManifestPage | undefined = Object.hasOwn(site.manifest.pages, rel) ? site.manifest.pages[rel] : undefined
    const sized = (headers: Record<string, string>, body: Uint8Array) => ({
      headers: withHeaders(headers, { 'X-Content-Type-Options': 'nosniff', 'Content-Length': String(body.length) }),
      body,
    })
    if (!page) {
      warnOnce(rel, 'unsealed', `${rel} is not in the manifest: served as it is, without a policy header (run csp-seal on the folder again)`)
      return sized(withHeaders(site.assetHeaders, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }), bytes)
    }
    if (!nonce) {
      // Hash-only mode: the sealed file as it is; still say when it drifted from the manifest.
      const digest = digestOf(bytes)
      if (digest !== page.digest) warnOnce(rel, digest, mismatchMessage(rel))
      return sized(withHeaders(page.headers, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }), bytes)
    }
    const result = applyNonce(bytes, page, generateNonce())
    if (result.fallback === 'digest-mismatch') warnOnce(rel, digestOf(bytes), mismatchMessage(rel))
    if (result.fallback === 'bad-slots') warnOnce(rel, 'bad-slots', `${rel}: the manifest's nonce slots do not point at script, style or link tags; the hash-only page was served`)
    return sized(result.headers, result.body)
  }

  return {
    async reply(request) {
      try {
        return await reply(request)
      } catch (error) {
        const message = (error as Error).message
        warnOnce('\0error', message, message)
        return { status: 500, headers: { 'Content-Type': TEXT, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }, body: text('Internal Server Error\n') }
      }
    },
  }
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

/** `rel`: the real file's path from the root (a symlink's target), which is how the manifest knows it. */
type Located = { real: string; rel: string } | { redirect: string }

/**
 * Maps a URL path to a file inside the site, or nothing. Refuses encoded separators and NUL, `.`/`..` and
 * empty segments, dotfiles (but `.well-known`), and any file whose real path (symlinks resolved) is outside
 * the root. `/dir` redirects to `/dir/`, which serves `dir/index.html`; `/page` serves `page.html` (clean URLs).
 */
async function locate(site: LoadedSite, rawPath: string): Promise<Located | undefined> {
  if (/%(2f|5c|00)/i.test(rawPath)) return undefined
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return undefined
  }
  if (path.includes('\0') || path.includes('\\')) return undefined
  const { base, root } = site
  if (`${path}/` === base) return { redirect: encodeURI(base) }
  if (!path.startsWith(base)) return undefined
  const segments = path.slice(base.length).split('/')
  const directoryUrl = segments[segments.length - 1] === ''
  const names = directoryUrl ? segments.slice(0, -1) : segments
  for (const [index, name] of names.entries()) {
    if (name === '' || name === '.' || name === '..') return undefined
    if (name.startsWith('.') && !(index === 0 && name === '.well-known')) return undefined
  }
  const rel = names.join('/')
  const candidates = directoryUrl ? [`${rel}${rel ? '/' : ''}index.html`, `${rel}${rel ? '/' : ''}index.htm`] : [rel, `${rel}.html`, `${rel}.htm`]
  for (const [index, candidate] of candidates.entries()) {
    if (candidate === '') continue
    const full = join(root, ...candidate.split('/'))
    let info
    try {
      info = await stat(full)
    } catch {
      continue
    }
    if (info.isDirectory()) {
      // Only the URL as written may be a folder; redirect so relative URLs in its index resolve under it.
      if (!directoryUrl && index === 0) return { redirect: `${encodeURI(base)}${names.map(encodeURIComponent).join('/')}/` }
      continue
    }
    if (!info.isFile()) continue
    let real: string
    try {
      real = await realpath(full)
    } catch {
      continue
    }
    if (!isInside(root, real)) return undefined
    return { real, rel: relative(root, real).split(sep).join('/') }
  }
  return undefined
}
