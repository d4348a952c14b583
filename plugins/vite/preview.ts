import { existsSync, readFileSync, statSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join, resolve } from 'node:path'
import pc from 'picocolors'
import type { PreviewServer } from 'vite'
import type { ResolvedConfig } from '../../src/config.js'
import type { Manifest } from '../../src/output/manifest.js'
import { parseManifest } from '../../src/server/manifest.js'
import { createMiddleware, type NodeMiddleware } from '../../src/server/node.js'

/**
 * `vite preview`: sealed pages are served by csp-seal's server runtime (`csp-seal/server`), so they get the
 * headers of the manifest (the policy with `frame-ancestors` and reporting, which the meta tag cannot carry)
 * and, with `nonce: true`, a fresh nonce per response, as in production. Everything else is left to Vite.
 */
export function installPreviewServer(server: PreviewServer, config: ResolvedConfig): void {
  const vite = server.config
  const logger = vite.logger
  const root = resolve(vite.root, vite.build.outDir)
  if (config.manifest === false) {
    logger.warn(`${pc.yellow('csp-seal (preview)')} manifest: false, so preview cannot send the policy headers; pages carry only their meta tag`)
    return
  }
  const manifestPath = join(root, config.manifest)
  const runtime: NodeMiddleware = createMiddleware({
    root,
    nonce: config.nonce,
    manifest: manifestPath,
    base: config.base,
    log: (message) => logger.warn(`${pc.yellow('csp-seal (preview)')} ${message}`),
  })
  let warned = false
  let cached: { key: string; manifest: Manifest } | undefined
  const load = (): Manifest | undefined => {
    if (!existsSync(manifestPath)) {
      if (!warned)
        logger.warn(
          `${pc.yellow('csp-seal (preview)')} ${manifestPath} does not exist: run vite build with csp-seal first; pages are served without policy headers`,
        )
      warned = true
      return undefined
    }
    const info = statSync(manifestPath)
    const key = `${info.mtimeMs}:${info.size}`
    if (cached?.key !== key) cached = { key, manifest: parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath) }
    return cached.manifest
  }

  // Registered directly (not returned), so it runs before Vite's static files, which would serve pages as they are.
  server.middlewares.use((req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next()
    let manifest: Manifest | undefined
    try {
      manifest = load()
    } catch (error) {
      return next(error)
    }
    if (!manifest) return next()
    const url = req.url ?? '/'
    const query = url.includes('?') ? url.slice(url.indexOf('?')) : ''
    let path: string
    try {
      path = decodeURIComponent(url.slice(0, url.length - query.length))
    } catch {
      return next()
    }
    if (!path.startsWith(config.base) && `${path}/` !== config.base) return next()
    const rel = path.slice(config.base.length)
    const pages = manifest.pages
    const candidates = rel === '' || rel.endsWith('/') ? [`${rel}index.html`] : [rel, `${rel}.html`, `${rel}/index.html`]
    if (`${path}/` === config.base || candidates.some((c) => Object.hasOwn(pages, c))) return runtime(req, res, next)
    // An SPA route: Vite would answer with index.html, so the runtime serves that page, with its headers.
    if (vite.appType === 'spa' && acceptsHtml(req) && Object.hasOwn(pages, 'index.html') && !isFile(join(root, rel))) {
      req.url = `${config.base}index.html${query}`
      return runtime(req, res, next)
    }
    next()
  })
}

function acceptsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept
  return accept === undefined || accept === '' || accept.includes('text/html') || accept.includes('*/*')
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
