/**
 * The server runtime over real HTTP on 127.0.0.1 (the Node middleware) and through its fetch handler (called
 * by Hono, and with an Electron-style custom-scheme URL): nonces, headers, content types, caching, 404s, path
 * traversal, redirects, fallbacks and reloading the manifest after a rebuild.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_POLICY, sealDirectory, type Manifest } from '../src/index.js'
import { createHandler, createMiddleware, type NodeMiddleware } from '../src/server/index.js'
import { FIXTURES } from './support/sites.js'

interface Raw {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** Sends the request target exactly as given (no client-side normalisation of `..` or `%2e`). */
function raw(origin: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}/`, { method: init.method ?? 'GET', path, headers: init.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function listen(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ origin: string; server: Server }> {
  const server = createServer(listener)
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

const nonceOfHeader = (csp: string) => /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1]
const servers: Server[] = []
const temps: string[] = []
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
  for (const dir of temps) await rm(dir, { recursive: true, force: true })
})

async function sealedCopy(config = {}): Promise<{ outer: string; site: string; manifest: Manifest }> {
  const outer = await mkdtemp(join(tmpdir(), 'csp-seal-server-'))
  temps.push(outer)
  const site = join(outer, 'site')
  await cp(join(FIXTURES, 'example-site'), site, { recursive: true })
  await sealDirectory(site, config)
  const manifest = JSON.parse(await readFile(join(site, 'csp-seal.json'), 'utf8')) as Manifest
  return { outer, site, manifest }
}

describe('Node middleware on http.createServer', () => {
  let site: string
  let outer: string
  let manifest: Manifest
  let origin: string
  const logs: string[] = []

  beforeAll(async () => {
    const copy = await sealedCopy({ extraHeaders: { 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' } })
    site = copy.site
    outer = copy.outer
    manifest = copy.manifest
    // Things that must never be served: a file next to the root, links out of it, a dotfile.
    await writeFile(join(outer, 'secret.txt'), 'TOP-SECRET')
    await writeFile(join(site, '.env'), 'DOT-SECRET')
    await symlink(join(outer, 'secret.txt'), join(site, 'assets', 'leak.txt'))
    await symlink(outer, join(site, 'linked'))
    await symlink(join(site, 'assets', 'app.js'), join(site, 'assets', 'alias.js'))
    const listening = await listen(createMiddleware({ root: site, log: (m) => logs.push(m) }))
    servers.push(listening.server)
    origin = listening.origin
  })

  it('serves every page with a fresh nonce: the same in the header, every slot and the csp-nonce meta', async () => {
    for (const [file, page] of Object.entries(manifest.pages)) {
      const res = await raw(origin, `/${file}`)
      expect(res.status, file).toBe(200)
      const csp = res.headers['content-security-policy'] as string
      const nonce = nonceOfHeader(csp)!
      expect(nonce, file).toMatch(/^[A-Za-z0-9+/]{22}==$/)
      expect(res.body.split(` nonce="${nonce}"`).length - 1, file).toBe(page.nonceSlots.tags.length + 1)
      expect(res.body).toContain(`<meta property="csp-nonce" nonce="${nonce}">`)
      // csp-seal's policy meta is swapped for the nonce meta; a page's own CSP meta stays.
      expect(res.body).not.toContain('data-csp-seal')
      expect(csp.replaceAll(` 'nonce-${nonce}'`, '')).toBe(page.policy)
      expect(res.headers['cache-control']).toBe('no-store')
      expect(res.headers.etag).toBeUndefined()
      expect(res.headers['last-modified']).toBeUndefined()
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(res.headers['x-frame-options']).toBe('DENY')
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body))
    }
    expect(logs).toEqual([])
  })

  it('never gives two responses the same nonce', async () => {
    const nonces = new Set<string>()
    const responses = await Promise.all(Array.from({ length: 200 }, () => raw(origin, '/index.html')))
    for (const res of responses) nonces.add(nonceOfHeader(res.headers['content-security-policy'] as string)!)
    expect(nonces.size).toBe(200)
  })

  it('serves folders and clean URLs as the static hosts do, and redirects folders to their slash', async () => {
    expect((await raw(origin, '/')).body).toContain('<title>Nimbus — deploy')
    expect((await raw(origin, '/docs/guide/')).body).toContain('nonce="')
    expect((await raw(origin, '/features')).headers['content-security-policy']).toContain("'nonce-")
    expect((await raw(origin, '/legacy.htm')).headers['content-type']).toBe('text/html; charset=utf-8')
    expect((await raw(origin, '/legacy')).status).toBe(404) // clean URLs are for .html, as on the static hosts
    const redirect = await raw(origin, '/docs/guide?tab=2')
    expect(redirect.status).toBe(301)
    expect(redirect.headers.location).toBe('/docs/guide/?tab=2')
  })

  it('serves other files with their content type, nosniff, the site-wide headers and revalidation', async () => {
    const svg = await raw(origin, '/assets/logo.svg')
    expect(svg.headers['content-type']).toBe('image/svg+xml')
    expect(svg.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'; sandbox")
    const types: Record<string, string> = {
      '/assets/app.js': 'text/javascript; charset=utf-8',
      '/assets/site.css': 'text/css; charset=utf-8',
      '/favicon.ico': 'image/x-icon',
      '/assets/alias.js': 'text/javascript; charset=utf-8', // a symlink that stays inside the root
    }
    for (const [path, type] of Object.entries(types)) {
      const res = await raw(origin, path)
      expect(res.status, path).toBe(200)
      expect(res.headers['content-type'], path).toBe(type)
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['x-frame-options']).toBe('DENY')
      expect(res.headers['referrer-policy']).toBe('no-referrer')
      expect(res.headers['content-security-policy']).toBeUndefined()
    }
    const js = await raw(origin, '/assets/app.js')
    expect(js.body).toBe(await readFile(join(site, 'assets/app.js'), 'utf8'))
    const again = await raw(origin, '/assets/app.js', { headers: { 'If-None-Match': js.headers.etag as string } })
    expect(again.status).toBe(304)
    expect(again.body).toBe('')
  })

  it('answers HEAD with the headers and no body', async () => {
    const page = await raw(origin, '/index.html', { method: 'HEAD' })
    expect(page.status).toBe(200)
    expect(page.headers['content-security-policy']).toContain("'nonce-")
    expect(page.body).toBe('')
    const asset = await raw(origin, '/assets/app.js', { method: 'HEAD' })
    expect(asset.headers['content-length']).toBe(String((await readFile(join(site, 'assets/app.js'))).length))
    expect(asset.body).toBe('')
  })

  it('never serves anything outside the root: .., encoded .., encoded separators, symlinks out, dotfiles', async () => {
    const attempts = [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/..%2Fsecret.txt',
      '/..%5csecret.txt',
      '/assets/..\\..\\secret.txt',
      '/%252e%252e/secret.txt',
      '/assets/leak.txt',
      '/linked/secret.txt',
      '/.env',
      '/assets/.%2e/%2e./secret.txt',
      '/index.html%00.js',
      '/%00',
      '//secret.txt',
      '/assets//app.js',
      '/./index.html',
      '/%c0%ae%c0%ae/secret.txt',
      '/%',
    ]
    for (const path of attempts) {
      const res = await raw(origin, path)
      expect([400, 404], `${path} → ${res.status}`).toContain(res.status)
      expect(res.body, path).not.toMatch(/TOP-SECRET|DOT-SECRET|<html/)
    }
  })

  it('serves a page reached through a symlink with the policy of the real file, never without one', async () => {
    const res = await raw(origin, '/linked/site/index.html')
    expect(res.headers['content-security-policy']).toContain("'nonce-")
    expect(res.body).toContain('<meta property="csp-nonce"')
  })

  it('never redirects off the site', async () => {
    for (const path of ['//example.com', '//example.com/', '/%2f%2fexample.com', '/\\example.com', '//docs/guide', '/docs//guide']) {
      const res = await raw(origin, path)
      expect(res.status, path).toBe(404)
      expect(res.headers.location).toBeUndefined()
    }
  })

  it('answers methods other than GET and HEAD with 405', async () => {
    const res = await raw(origin, '/index.html', { method: 'POST' })
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD')
  })
})

describe('extra headers that clash with the runtime', () => {
  it('never lets a page response carry a cache header or validator of the user next to no-store; assets keep theirs', async () => {
    const { site } = await sealedCopy({ extraHeaders: { 'cache-control': 'public, max-age=600', etag: 'fixed' } })
    const { origin, server } = await listen(createMiddleware({ root: site }))
    servers.push(server)
    const page = await raw(origin, '/index.html')
    expect(page.headers['cache-control']).toBe('no-store')
    expect(page.headers.etag).toBeUndefined()
    const asset = await raw(origin, '/assets/app.js')
    expect(asset.headers['cache-control']).toBe('public, max-age=600')
    expect(asset.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/)
  })
})

describe('the middleware in a Connect/Express-style chain', () => {
  it('passes 404s and other methods to next(), and serves the rest', async () => {
    const { site } = await sealedCopy()
    const middleware: NodeMiddleware = createMiddleware({ root: site })
    const { origin, server } = await listen((req, res) => {
      middleware(req, res, (error) => {
        res.writeHead(error ? 500 : 200, { 'Content-Type': 'text/plain' }).end(error ? 'error' : `next: ${req.method} ${req.url}`)
      })
    })
    servers.push(server)
    expect((await raw(origin, '/api/users')).body).toBe('next: GET /api/users')
    expect((await raw(origin, '/index.html', { method: 'POST' })).body).toBe('next: POST /index.html')
    expect((await raw(origin, '/index.html')).headers['content-security-policy']).toContain("'nonce-")
  })

  it('drops validators earlier middleware set on a page response', async () => {
    const { site } = await sealedCopy()
    const middleware = createMiddleware({ root: site })
    const { origin, server } = await listen((req, res) => {
      res.setHeader('ETag', '"from-another-middleware"')
      res.setHeader('Last-Modified', new Date(0).toUTCString())
      middleware(req, res)
    })
    servers.push(server)
    const page = await raw(origin, '/index.html')
    expect(page.headers.etag).toBeUndefined()
    expect(page.headers['last-modified']).toBeUndefined()
  })
})

describe('fallbacks and rebuilds', () => {
  it('serves a page changed after sealing hash-only, with the manifest headers, and logs it once', async () => {
    const { site, manifest } = await sealedCopy()
    const logs: string[] = []
    const handler = createHandler({ root: site, log: (m) => logs.push(m) })
    const tampered = (await readFile(join(site, 'index.html'), 'utf8')).replace("push('index:body-inline')", "push('index:tampered')")
    await writeFile(join(site, 'index.html'), tampered)
    for (let i = 0; i < 3; i++) {
      const res = await handler(new Request('http://site.test/index.html'))
      expect(await res.text()).toBe(tampered)
      expect(res.headers.get('content-security-policy')).toBe(manifest.pages['index.html']!.headers['Content-Security-Policy'])
      expect(res.headers.get('cache-control')).toBe('no-store')
    }
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatch(/index\.html does not match the digest in the manifest.*hash-only/)
    // Other pages still get nonces.
    expect((await handler(new Request('http://site.test/features.html'))).headers.get('content-security-policy')).toContain("'nonce-")
  })

  it('re-reads the manifest after a rebuild, without a restart', async () => {
    const { site } = await sealedCopy()
    const logs: string[] = []
    const handler = createHandler({ root: site, log: (m) => logs.push(m) })
    expect((await handler(new Request('http://site.test/index.html'))).headers.get('content-security-policy')).toContain("'nonce-")
    const page = join(site, 'index.html')
    await writeFile(
      page,
      (await readFile(page, 'utf8')).replace('</body>', "<script>(window.__ran = window.__ran || []).push('index:rebuilt')</script></body>"),
    )
    await sealDirectory(site)
    const res = await handler(new Request('http://site.test/index.html'))
    const body = await res.text()
    expect(body).toContain('index:rebuilt')
    expect(res.headers.get('content-security-policy')).toContain("'nonce-")
    expect(body).toContain('<meta property="csp-nonce"')
    expect(logs).toEqual([])
  })

  it("serves a page the manifest does not know as it is, with the site's default policy, and says so once", async () => {
    const { site } = await sealedCopy()
    const logs: string[] = []
    const handler = createHandler({ root: site, log: (m) => logs.push(m) })
    await writeFile(join(site, 'late.html'), '<!doctype html><p>added after sealing</p>')
    for (let i = 0; i < 2; i++) {
      const res = await handler(new Request('http://site.test/late.html'))
      expect(await res.text()).toBe('<!doctype html><p>added after sealing</p>')
      expect(res.headers.get('content-security-policy')).toBe(DEFAULT_POLICY)
      expect(res.headers.get('cache-control')).toBe('no-store')
    }
    expect(logs).toEqual(["csp-seal: late.html is not in the manifest: served as it is with the site's default policy (run csp-seal on the folder again)"])
  })

  it('answers 500 and explains when the folder was never sealed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-unsealed-'))
    temps.push(dir)
    await writeFile(join(dir, 'index.html'), '<p>x</p>')
    const logs: string[] = []
    const res = await createHandler({ root: dir, log: (m) => logs.push(m) })(new Request('http://site.test/index.html'))
    expect(res.status).toBe(500)
    expect(await res.text()).toBe('Internal Server Error\n')
    expect(logs[0]).toMatch(/csp-seal\.json does not exist: seal the site first/)
  })

  it('with nonce: false, serves the sealed pages as they are, with the manifest headers', async () => {
    const { site, manifest } = await sealedCopy()
    const handler = createHandler({ root: site, nonce: false })
    const res = await handler(new Request('http://site.test/docs/guide/'))
    expect(await res.text()).toBe(await readFile(join(site, 'docs/guide/index.html'), 'utf8'))
    expect(res.headers.get('content-security-policy')).toBe(manifest.pages['docs/guide/index.html']!.policy)
    expect(res.headers.get('cache-control')).toBe('no-store')
  })
})

describe('the fetch handler in other hosts', () => {
  it('works as a Hono route', async () => {
    const { site } = await sealedCopy()
    const handler = createHandler({ root: site })
    const app = new Hono()
    app.get('/api/health', (c) => c.text('ok'))
    app.all('*', (c) => handler(c.req.raw))
    expect(await (await app.request('/api/health')).text()).toBe('ok')
    const page = await app.request('/index.html')
    const nonce = nonceOfHeader(page.headers.get('content-security-policy')!)
    expect(await page.text()).toContain(`<meta property="csp-nonce" nonce="${nonce}">`)
    expect((await app.request('/assets/app.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect((await app.request('/nope')).status).toBe(404)
  })

  it("takes Electron-style custom-scheme URLs (protocol.handle('app', handler))", async () => {
    const { site } = await sealedCopy()
    const handler = createHandler({ root: site })
    const page = await handler(new Request('app://bundle/docs/api/reference.html'))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("'nonce-")
    const css = await handler(new Request('app://bundle/docs/assets/docs.css'))
    expect(await css.text()).toBe(await readFile(join(site, 'docs/assets/docs.css'), 'utf8'))
    expect((await handler(new Request('app://bundle/../../etc/passwd'))).status).toBe(404)
  })

  it('serves a site built for a sub-path (base) under that path only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-base-'))
    temps.push(dir)
    await mkdir(join(dir, 'guide'))
    await writeFile(join(dir, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><script src="/app/a.js"></script></head><body></body></html>')
    await writeFile(join(dir, 'guide', 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><style>p{}</style></head><body></body></html>')
    await writeFile(join(dir, 'a.js'), 'window.a = 1')
    await sealDirectory(dir, { base: '/app/' })
    const handler = createHandler({ root: dir })
    expect((await handler(new Request('http://site.test/app/'))).headers.get('content-security-policy')).toContain("'nonce-")
    expect((await handler(new Request('http://site.test/app/guide/'))).headers.get('content-security-policy')).toContain("'nonce-")
    expect(await (await handler(new Request('http://site.test/app/a.js'))).text()).toBe('window.a = 1')
    const redirect = await handler(new Request('http://site.test/app'))
    expect([redirect.status, redirect.headers.get('location')]).toEqual([301, '/app/'])
    expect((await handler(new Request('http://site.test/index.html'))).status).toBe(404)
    expect((await handler(new Request('http://site.test/a.js'))).status).toBe(404)
  })
})
