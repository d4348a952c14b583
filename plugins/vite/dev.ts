import { AsyncLocalStorage } from 'node:async_hooks'
import type { IncomingMessage, ServerResponse } from 'node:http'
import MagicString from 'magic-string'
import { parse, type DefaultTreeAdapterMap } from 'parse5'
import pc from 'picocolors'
import type { IndexHtmlTransformContext, Logger, ViteDevServer } from 'vite'
import type { ResolvedConfig } from '../../src/config.js'
import { allow, allowNonce } from '../../src/csp/allow.js'
import { cspHash, type HashAlgorithm } from '../../src/csp/hash.js'
import { allowsAllInline } from '../../src/csp/inline.js'
import { nonceMetaTag, policyMetaTag } from '../../src/csp/meta.js'
import { clonePolicy, governingDirective, governingSources, mergePolicy, parsePolicy, serializePolicy, type Policy } from '../../src/csp/policy.js'
import { scanHtml } from '../../src/html/scan.js'
import { generateNonce } from '../../src/server/transform.js'
import { formatProblem, SealError } from '../../src/problems.js'

type Element = DefaultTreeAdapterMap['element']
type ParentNode = DefaultTreeAdapterMap['parentNode']

/** The response a dev HTML transform belongs to: set by our middleware, read in transformIndexHtml. */
const responses = new AsyncLocalStorage<{ req: IncomingMessage; res: ServerResponse }>()

export interface DevNonces {
  configureServer(server: ViteDevServer): void
  transformIndexHtml(html: string, ctx: IndexHtmlTransformContext): string | undefined
}

/**
 * `vite dev`: every HTML response gets the user's policy as a header with a fresh nonce on every script,
 * style and stylesheet/preload tag and in `<meta property="csp-nonce">` (which Vite's client and preload
 * helper read for the `<style>` and `<link>` tags they add). Relaxed only for the HMR websocket.
 */
export function devNonces(getConfig: () => ResolvedConfig): DevNonces {
  let server: ViteDevServer | undefined
  const said = new Set<string>()
  const once = (logger: Logger, key: string, message: string) => {
    if (said.has(key)) return
    said.add(key)
    logger.info(`${pc.cyan('csp-seal (dev)')} ${message}`, { timestamp: true })
  }

  return {
    configureServer(dev) {
      server = dev
      // Before Vite's own middlewares, so the HTML transform runs inside this request's context.
      dev.middlewares.use((req, res, next) => responses.run({ req, res }, next))
      for (const note of devLimits(getConfig().policy, dev)) dev.config.logger.warn(`${pc.yellow('csp-seal (dev)')} ${note}`)
    },

    transformIndexHtml(html, ctx) {
      if (!ctx.server || !server) return undefined // build: sealing happens in generateBundle
      const config = getConfig()
      const logger = server.config.logger
      const nonce = generateNonce() // new for every response, as the server runtime mints them
      const { html: nonced, pagePolicies, styleHashes, handlerHashes } = addNonces(html, nonce, config.hashAlgorithm)

      let policy = mergePolicy(clonePolicy(config.policy), ...pagePolicies)
      if (config.styleAttributes === 'hash' && styleHashes.length) allow(policy, 'style', 'attr', ["'unsafe-hashes'", ...styleHashes])
      if (config.eventHandlers === 'hash' && handlerHashes.length) allow(policy, 'script', 'attr', ["'unsafe-hashes'", ...handlerHashes])
      const store = responses.getStore()
      const socket = hmrSource(server, store?.req.headers.host)
      if (socket && !allowsSocket(policy, socket)) {
        policy = withConnect(policy, socket.source)
        once(logger, `hmr:${socket.source}`, `relaxed for HMR: connect-src += ${socket.source} (Vite's websocket; not in the build)`)
      }
      // Chromium does not upgrade loopback URLs; any other host name over plain http would break every request.
      const host = parseHost(store?.req.headers.host)?.hostname
      if (policy.has('upgrade-insecure-requests') && !isHttps(server) && !(host && isLoopback(host))) {
        policy.delete('upgrade-insecure-requests')
        once(
          logger,
          'uir',
          `upgrade-insecure-requests left out for pages opened as http://${host ?? '?'}: over plain http it would send the dev server's own requests to https`,
        )
      }
      if (config.report) {
        policy.set('report-uri', [config.report.uri])
        policy.set('report-to', [config.report.group])
      }
      allowNonce(policy, nonce)
      const text = serializePolicy(policy)

      if (store && !store.res.headersSent) {
        store.res.setHeader(config.reportOnly ? 'Content-Security-Policy-Report-Only' : 'Content-Security-Policy', text)
        if (config.report) store.res.setHeader('Reporting-Endpoints', `${config.report.group}="${config.report.uri}"`)
        // Vite sends HTML with no-cache and an ETag of the body (which holds the nonce): no cache replays a nonce.
        return nonced
      }
      // Transformed outside a request we saw (an SSR framework's own middleware): fall back to a meta tag.
      if (config.reportOnly) return nonced // browsers ignore report-only meta tags
      once(
        logger,
        'meta',
        `${ctx.originalUrl ?? ctx.path}: HTML transformed outside a request csp-seal saw; the policy is sent as a <meta> tag instead of a header`,
      )
      return insertMeta(nonced, policyMetaTag(policy))
    },
  }
}

interface Nonced {
  html: string
  pagePolicies: Policy[]
  styleHashes: string[]
  handlerHashes: string[]
}

/**
 * Puts `nonce` on every script, style and stylesheet/preload link (replacing a nonce already there, e.g. from
 * `html.cspNonce`), sets it in `<meta property="csp-nonce">` (adding one if missing), and takes out CSP meta
 * tags (their policies are merged into the header, as the build merges them).
 */
export function addNonces(source: string, nonce: string, algorithm: HashAlgorithm = 'sha256'): Nonced {
  const bom = source.startsWith('\uFEFF') ? '\uFEFF' : ''
  const html = source.slice(bom.length)
  const s = new MagicString(html)
  const scan = scanHtml(html)
  const pagePolicies: Policy[] = []
  for (const meta of scan.metas) {
    if (meta.reportOnly) continue
    try {
      pagePolicies.push(parsePolicy(meta.content, 'policy meta tag'))
    } catch (error) {
      if (!(error instanceof SealError)) throw error
      throw new Error(`csp-seal: the page's policy meta tag is invalid:\n${error.problems.map(formatProblem).join('\n')}`, { cause: error })
    }
    s.remove(meta.start, meta.end)
  }
  let hasNonceMeta = false
  walk(parse(html, { sourceCodeLocationInfo: true }), (element) => {
    const location = element.sourceCodeLocation
    if (!location?.startTag) return
    const attr = (name: string) => element.attrs.find((a) => a.name === name && !a.prefix)
    const name = element.tagName
    const rel = (attr('rel')?.value ?? '').toLowerCase().split(/\s+/)
    const wants = name === 'script' || name === 'style' || (name === 'link' && rel.some((r) => r === 'stylesheet' || r === 'modulepreload' || r === 'preload'))
    const nonceMeta = name === 'meta' && attr('property')?.value === 'csp-nonce'
    if (!wants && !nonceMeta) return
    if (nonceMeta) hasNonceMeta = true
    const existing = location.attrs?.nonce
    if (attr('nonce') && existing) s.overwrite(existing.startOffset, existing.endOffset, `nonce="${nonce}"`)
    else s.appendLeft(location.startTag.startOffset + 1 + name.length, ` nonce="${nonce}"`)
  })
  let out = s.toString()
  if (!hasNonceMeta) out = insertMeta(out, nonceMetaTag(nonce))
  const hashes = (kind: 'style' | 'handler') => [...new Set(scan.attributes.filter((a) => a.kind === kind).map((a) => cspHash(a.value, algorithm)))]
  return { html: bom + out, pagePolicies, styleHashes: hashes('style'), handlerHashes: hashes('handler') }
}

function walk(node: ParentNode, visit: (element: Element) => void): void {
  for (const child of node.childNodes) {
    if (!('tagName' in child)) continue
    visit(child)
    // <template> content is inert; its clones would need the nonce added by whoever clones them.
    walk(child, visit)
  }
}

/** Inserts a tag first in `<head>` (after `<meta charset>` when that comes first), as the build places its meta. */
function insertMeta(html: string, tag: string): string {
  const bom = html.startsWith('\uFEFF') ? '\uFEFF' : ''
  const body = html.slice(bom.length)
  const at = scanHtml(body).metaInsert
  return bom + body.slice(0, at) + tag + body.slice(at)
}

interface SocketSource {
  source: string
  sameOrigin: boolean
}

/** Where Vite's client opens its HMR websocket, as a CSP source; undefined when HMR is off. */
function hmrSource(server: ViteDevServer, hostHeader: string | undefined): SocketSource | undefined {
  const options = server.config.server
  if (options.hmr === false || options.ws === false) return undefined
  const hmr = typeof options.hmr === 'object' ? options.hmr : {}
  const request = parseHost(hostHeader)
  const host = hmr.host ?? request?.hostname
  if (!host) return undefined
  const pagePort = request?.port ?? String(server.config.server.port ?? 5173)
  const port = String(hmr.clientPort ?? hmr.port ?? pagePort)
  const protocol = hmr.protocol ?? (isHttps(server) ? 'wss' : 'ws')
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return {
    source: `${protocol}://${hostPart}:${port}`,
    sameOrigin: host === request?.hostname && port === pagePort && protocol === (isHttps(server) ? 'wss' : 'ws'),
  }
}

function parseHost(header: string | undefined): { hostname: string; port: string | undefined } | undefined {
  if (!header) return undefined
  try {
    const url = new URL(`http://${header}`)
    return { hostname: url.hostname, port: url.port || undefined }
  } catch {
    return undefined
  }
}

/** CSP3: 'self' matches ws:/wss: on the page's own host and port, so a same-origin socket needs nothing. */
function allowsSocket(policy: Policy, socket: SocketSource): boolean {
  const list = governingSources(policy, 'connect-src')
  if (list === undefined) return true
  if (list.includes(socket.source)) return true
  return socket.sameOrigin && list.includes("'self'")
}

function withConnect(policy: Policy, source: string): Policy {
  const list = governingSources(policy, 'connect-src') ?? []
  // connect-src created from default-src keeps what default-src allowed, like the build's fallback rule.
  policy.set('connect-src', [...list.filter((s) => s !== "'none'"), source])
  return policy
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

function isHttps(server: ViteDevServer): boolean {
  return Boolean(server.config.server.https)
}

/** What dev cannot do as the built site does: said once at start-up, not per request. */
function devLimits(policy: Policy, server: ViteDevServer): string[] {
  const notes: string[] = []
  if (policy.has('upgrade-insecure-requests') && !isHttps(server)) {
    notes.push(
      'upgrade-insecure-requests cannot be honoured by a plain-http dev server: it is kept for localhost and 127.0.0.1 (browsers do not upgrade those) and left out for pages opened by any other host name',
    )
  }
  const directive = governingDirective(policy, 'script-src-elem')
  const scripts = directive && directive !== 'default-src' ? policy.get(directive) : undefined
  if (scripts && scripts.length === 1 && scripts[0] === "'none'") {
    notes.push("script-src is 'none': Vite's dev client and your modules cannot run under it in dev (nor would any script in the build)")
  }
  for (const family of ['script', 'style'] as const) {
    if (governingSources(policy, `${family}-src-elem`) && allowsAllInline(policy, `${family}-src-elem`))
      notes.push(`${family}-src keeps 'unsafe-inline', so dev adds no nonce to it (a nonce would switch 'unsafe-inline' off)`)
  }
  return notes
}
