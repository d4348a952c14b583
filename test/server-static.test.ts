/**
 * The runtime as a static server, over real HTTP on 127.0.0.1 (the Node middleware) and through the fetch
 * handler: clean URLs and trailing slashes as the static hosts resolve them (a Next.js-export layout and a
 * Docusaurus layout), the SPA fallback and 404 page, byte ranges, conditional requests, precompressed and
 * on-the-fly compression, immutable caching of hashed names, the files that are never served, and the policy
 * of pages the manifest does not list and of SVG/XML documents.
 */
import { request as httpRequest, createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_POLICY, sealDirectory } from '../src/index.js'
import { createHandler, createMiddleware, type ServerOptions } from '../src/server/index.js'

interface Raw {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function raw(origin: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}/`, { method, path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    req.end()
  })
}

const page = (title: string, body = '') =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><style>h1{color:red}</style><script src="/app.js"></script></head><body><h1>${title}</h1>${body}<p>${'Words that make the page worth compressing. '.repeat(30)}</p><script>window.page = ${JSON.stringify(title)}</script></body></html>`

/** Next.js export (about.html beside about/), Docusaurus (docs/intro/index.html), both forms, a 404 page, hashed assets. */
const SITE: Record<string, string | Buffer> = {
  'index.html': page('home'),
  'about.html': page('about'),
  'about/team.html': page('team'),
  'docs/intro/index.html': page('intro', '<a href="/docs/intro">self</a>'),
  'both.html': page('both file'),
  'both/index.html': page('both folder'),
  '404.html': page('not found'),
  'app.js': `window.app = ${JSON.stringify('x'.repeat(3000))}\n`,
  '_next/static/chunks/main.js': 'window.next = 1\n',
  'assets/index-BXkt1Jz3.js': 'window.vite = 1\n',
  'assets/logo.1a2b3c4d.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
  'assets/plain.js': 'window.plain = 1\n',
  'empty.txt': '',
  'big.txt': Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join('')),
  'pre.css': `body { color: red }\n${'/* padding */\n'.repeat(200)}`,
  'doc.svg': '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
  'feed.xml': '<?xml version="1.0"?><rss/>',
  'page.xhtml': '<html xmlns="http://www.w3.org/1999/xhtml"><body><script>alert(1)</script></body></html>',
}

let site: string
let origin: string
const servers: Server[] = []
const temps: string[] = []

async function listen(options: ServerOptions): Promise<string> {
  const server = createServer(createMiddleware(options))
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function writeSite(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [file, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true })
    await writeFile(join(dir, file), content)
  }
}

beforeAll(async () => {
  site = await mkdtemp(join(tmpdir(), 'csp-seal-static-'))
  temps.push(site)
  await writeSite(site, SITE)
  await sealDirectory(site)
  await writeFile(join(site, '_headers'), '/*\n  X-Frame-Options: DENY\n')
  // Precompressed siblings, as a build's compression plugin writes them (different bytes, to tell them apart).
  const css = await readFile(join(site, 'pre.css'))
  await writeFile(join(site, 'pre.css.br'), brotliCompressSync(Buffer.concat([css, Buffer.from('/* br */')])))
  await writeFile(join(site, 'pre.css.gz'), gzipSync(Buffer.concat([css, Buffer.from('/* gz */')])))
  // Pages that were never sealed: an upper-case extension, and one under .well-known.
  await writeSite(site, { 'LATE.HTML': '<!doctype html><script>1</script>', '.well-known/info.Htm': '<p>info</p>' })
  origin = await listen({ root: site })
})
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
  for (const dir of temps) await rm(dir, { recursive: true, force: true })
})

const titleOf = (res: Raw) => /<title>([^<]*)<\/title>/.exec(res.body.toString())?.[1]

describe('URLs resolve as on Netlify and Cloudflare Pages', () => {
  it('answers each URL form with the right page, or a redirect that keeps the query', async () => {
    const cases: Array<[string, string | { location: string }]> = [
      ['/', 'home'],
      ['/index.html', 'home'],
      ['/about', 'about'], // Next.js export: about.html wins over the about/ folder
      ['/about.html', 'about'],
      ['/about/', { location: '/about' }],
      ['/about/team', 'team'],
      ['/docs/intro/', 'intro'], // Docusaurus
      ['/docs/intro/index.html', 'intro'],
      ['/docs/intro?x=1', { location: '/docs/intro/?x=1' }],
      ['/both', 'both file'],
      ['/both/', 'both folder'],
    ]
    for (const [path, expected] of cases) {
      const res = await raw(origin, path)
      if (typeof expected === 'string') {
        expect([path, res.status, titleOf(res)]).toEqual([path, 200, expected])
        expect(res.headers['content-security-policy'], path).toContain("'nonce-")
      } else {
        expect([path, res.status, res.headers.location]).toEqual([path, 301, expected.location])
      }
    }
  })

  it('answers unknown URLs with the site 404 page, with status 404 and its own nonce', async () => {
    for (const path of ['/nope', '/nope/', '/about/nope', '/missing.js']) {
      const res = await raw(origin, path)
      expect([path, res.status, titleOf(res)]).toEqual([path, 404, 'not found'])
      expect(res.headers['content-security-policy']).toContain("'nonce-")
    }
  })
})

describe('the SPA fallback', () => {
  it('serves the fallback page for client-side routes, with a fresh nonce and status 200; unknown files stay 404', async () => {
    const spa = await listen({ root: site, fallback: 'index.html' })
    const nonces = new Set<string>()
    for (const path of ['/users/42', '/users/42/', '/deep/link/here?tab=1', '/about/team/members']) {
      const res = await raw(spa, path)
      expect([path, res.status, titleOf(res)]).toEqual([path, 200, 'home'])
      nonces.add(/'nonce-([^']+)'/.exec(res.headers['content-security-policy'] as string)![1]!)
    }
    expect(nonces.size).toBe(4)
    expect((await raw(spa, '/about')).status).toBe(200)
    expect(titleOf(await raw(spa, '/about'))).toBe('about') // real pages still win
    for (const path of ['/missing.js', '/img/photo.png', '/users/42/data.json']) {
      const res = await raw(spa, path)
      expect([path, res.status, titleOf(res)]).toEqual([path, 404, 'not found'])
    }
  })

  it('takes URL prefixes mapped to pages, the longest prefix first', async () => {
    const spa = await listen({ root: site, fallback: { '/docs/': 'docs/intro/index.html', '/': 'about.html' } })
    expect(titleOf(await raw(spa, '/docs/anything'))).toBe('intro')
    expect(titleOf(await raw(spa, '/elsewhere'))).toBe('about')
  })

  it('refuses a fallback page that is not a sealed page', async () => {
    const logs: string[] = []
    const res = await createHandler({ root: site, fallback: 'nope.html', log: (m) => logs.push(m) })(new Request('http://site.test/x'))
    expect(res.status).toBe(500)
    expect(logs.join('\n')).toMatch(/the fallback page nope\.html is not a sealed page/)
  })
})

describe('files that are never served', () => {
  it('answers the manifest, the header files and the lock file with 404, in any case of their names', async () => {
    await writeFile(join(site, 'csp-seal.lock.json'), '{}')
    for (const path of ['/csp-seal.json', '/CSP-SEAL.JSON', '/_headers', '/csp-seal.lock.json', '/csp-seal']) {
      const res = await raw(origin, path)
      expect([path, res.status]).toEqual([path, 404])
      expect(res.body.toString()).not.toContain('"pages"')
    }
  })

  it('answers a renamed manifest with 404 too, and serves a manifest kept outside the web root', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-private-'))
    temps.push(dir)
    await writeSite(join(dir, 'www'), { 'index.html': page('home'), 'app.js': '' })
    await sealDirectory(join(dir, 'www'), { manifest: 'site.manifest.json' })
    const renamed = await listen({ root: join(dir, 'www'), manifest: 'site.manifest.json' })
    expect((await raw(renamed, '/site.manifest.json')).status).toBe(404)
    await writeFile(join(dir, 'outside.json'), await readFile(join(dir, 'www', 'site.manifest.json')))
    await rm(join(dir, 'www', 'site.manifest.json'))
    const outside = await listen({ root: join(dir, 'www'), manifest: join(dir, 'outside.json') })
    expect((await raw(outside, '/')).headers['content-security-policy']).toContain("'nonce-")
  })
})

describe('pages the manifest does not list, and active documents', () => {
  it("serves an unsealed page (any case of .html/.htm, under .well-known too) with the site's default policy", async () => {
    for (const path of ['/LATE.HTML', '/.well-known/info.Htm']) {
      const res = await raw(origin, path)
      expect([path, res.status, res.headers['content-type']]).toEqual([path, 200, 'text/html; charset=utf-8'])
      expect(res.headers['content-security-policy'], path).toBe(DEFAULT_POLICY)
      expect(res.headers['cache-control']).toBe('no-store')
    }
    const custom = await listen({ root: site, policy: "default-src 'none'" })
    expect((await raw(custom, '/LATE.HTML')).headers['content-security-policy']).toBe("default-src 'none'")
  })

  it('sends a restrictive policy with SVG, XHTML and XML, or the one configured, or none', async () => {
    for (const path of ['/doc.svg', '/feed.xml', '/page.xhtml', '/assets/logo.1a2b3c4d.svg']) {
      expect((await raw(origin, path)).headers['content-security-policy'], path).toBe("default-src 'none'; style-src 'unsafe-inline'; sandbox")
    }
    expect((await raw(origin, '/app.js')).headers['content-security-policy']).toBeUndefined()
    const custom = await listen({ root: site, documentPolicy: "default-src 'none'" })
    expect((await raw(custom, '/doc.svg')).headers['content-security-policy']).toBe("default-src 'none'")
    const none = await listen({ root: site, documentPolicy: false })
    expect((await raw(none, '/doc.svg')).headers['content-security-policy']).toBeUndefined()
  })
})

describe('caching', () => {
  it('marks content-hashed names immutable and revalidates the rest', async () => {
    const immutable = 'public, max-age=31536000, immutable'
    for (const path of ['/_next/static/chunks/main.js', '/assets/index-BXkt1Jz3.js', '/assets/logo.1a2b3c4d.svg']) {
      expect((await raw(origin, path)).headers['cache-control'], path).toBe(immutable)
    }
    const empty = await raw(origin, '/empty.txt', { 'Accept-Encoding': 'br' })
    expect([empty.status, empty.headers['content-length'], empty.body.length]).toEqual([200, '0', 0])
    for (const path of ['/assets/plain.js', '/app.js', '/big.txt']) {
      expect((await raw(origin, path)).headers['cache-control'], path).toBe('no-cache')
    }
    const off = await listen({ root: site, immutable: false })
    expect((await raw(off, '/assets/index-BXkt1Jz3.js')).headers['cache-control']).toBe('no-cache')
  })

  it('answers If-None-Match and If-Modified-Since with 304, and a changed file with 200', async () => {
    const first = await raw(origin, '/big.txt')
    const etag = first.headers.etag as string
    const lastModified = first.headers['last-modified'] as string
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/)
    for (const headers of [{ 'If-None-Match': etag }, { 'If-None-Match': `"other", ${etag}` }, { 'If-Modified-Since': lastModified }] as Array<
      Record<string, string>
    >) {
      const res = await raw(origin, '/big.txt', headers)
      expect([res.status, res.body.length]).toEqual([304, 0])
      expect(res.headers.etag).toBe(etag)
    }
    expect((await raw(origin, '/big.txt', { 'If-None-Match': '"other"' })).status).toBe(200)
    expect((await raw(origin, '/big.txt', { 'If-Modified-Since': new Date(Date.parse(lastModified) - 60_000).toUTCString() })).status).toBe(200)
  })

  it('never gives a page a validator, nor a 304', async () => {
    const res = await raw(origin, '/', { 'If-None-Match': '*', 'If-Modified-Since': new Date().toUTCString() })
    expect(res.status).toBe(200)
    expect(res.headers.etag).toBeUndefined()
    expect(res.headers['last-modified']).toBeUndefined()
    expect(res.headers['cache-control']).toBe('no-store')
  })
})

describe('byte ranges', () => {
  it('serves one range with 206, a suffix range, and 416 for a range past the end', async () => {
    const whole = await readFile(join(site, 'big.txt'))
    const part = await raw(origin, '/big.txt', { Range: 'bytes=100-199' })
    expect(part.status).toBe(206)
    expect(part.headers['content-range']).toBe(`bytes 100-199/${whole.length}`)
    expect(part.headers['content-length']).toBe('100')
    expect(part.body.equals(whole.subarray(100, 200))).toBe(true)
    const suffix = await raw(origin, '/big.txt', { Range: 'bytes=-10' })
    expect(suffix.body.equals(whole.subarray(whole.length - 10))).toBe(true)
    const open = await raw(origin, '/big.txt', { Range: `bytes=${whole.length - 5}-` })
    expect(open.body.equals(whole.subarray(whole.length - 5))).toBe(true)
    const past = await raw(origin, '/big.txt', { Range: `bytes=${whole.length + 10}-` })
    expect([past.status, past.headers['content-range']]).toEqual([416, `bytes */${whole.length}`])
    // Several ranges, or a malformed header: the whole file, which HTTP allows.
    for (const range of ['bytes=0-1,5-6', 'lines=1-2', 'bytes=x']) {
      const res = await raw(origin, '/big.txt', { Range: range })
      expect([range, res.status, res.body.length]).toEqual([range, 200, whole.length])
    }
  })

  it('honours If-Range only when it names the current file', async () => {
    const { headers } = await raw(origin, '/big.txt')
    expect((await raw(origin, '/big.txt', { Range: 'bytes=0-9', 'If-Range': headers.etag as string })).status).toBe(206)
    expect((await raw(origin, '/big.txt', { Range: 'bytes=0-9', 'If-Range': '"stale"' })).status).toBe(200)
    expect((await raw(origin, '/big.txt', { Range: 'bytes=0-9', 'If-Range': headers['last-modified'] as string })).status).toBe(206)
  })

  it('ranges through the fetch handler too', async () => {
    const whole = await readFile(join(site, 'big.txt'))
    const res = await createHandler({ root: site })(new Request('http://site.test/big.txt', { headers: { Range: 'bytes=10-19' } }))
    expect(res.status).toBe(206)
    expect(Buffer.from(await res.arrayBuffer()).equals(whole.subarray(10, 20))).toBe(true)
  })
})

describe('compression', () => {
  it('compresses text assets on the way (Brotli preferred, gzip, none), with Vary and no length', async () => {
    const whole = await readFile(join(site, 'big.txt'))
    const br = await raw(origin, '/big.txt', { 'Accept-Encoding': 'gzip, deflate, br' })
    expect([br.headers['content-encoding'], br.headers.vary, br.headers['content-length']]).toEqual(['br', 'Accept-Encoding', undefined])
    expect(brotliDecompressSync(br.body).equals(whole)).toBe(true)
    const gz = await raw(origin, '/big.txt', { 'Accept-Encoding': 'gzip' })
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(gz.body).equals(whole)).toBe(true)
    expect(gz.headers.etag).not.toBe(br.headers.etag)
    for (const refused of ['identity', 'br;q=0, gzip;q=0', '*;q=0', '']) {
      const res = await raw(origin, '/big.txt', { 'Accept-Encoding': refused })
      expect([refused, res.headers['content-encoding'], res.body.length]).toEqual([refused, undefined, whole.length])
    }
    // A range is of the file itself, never compressed.
    expect((await raw(origin, '/big.txt', { 'Accept-Encoding': 'br', Range: 'bytes=0-9' })).headers['content-encoding']).toBeUndefined()
  })

  it('serves a precompressed .br or .gz file next to the asset when the client takes it', async () => {
    const br = await raw(origin, '/pre.css', { 'Accept-Encoding': 'br' })
    expect([br.headers['content-encoding'], br.headers['content-type']]).toEqual(['br', 'text/css; charset=utf-8'])
    expect(brotliDecompressSync(br.body).toString()).toMatch(/\/\* br \*\/$/)
    expect(br.headers['content-length']).toBe(String(br.body.length))
    const gz = await raw(origin, '/pre.css', { 'Accept-Encoding': 'gzip' })
    expect(gunzipSync(gz.body).toString()).toMatch(/\/\* gz \*\/$/)
    const plain = await raw(origin, '/pre.css')
    expect(plain.body.toString()).not.toMatch(/\/\* (br|gz) \*\/$/)
  })

  it('leaves images and small files alone, and compresses pages while keeping no-store and a fresh nonce', async () => {
    expect((await raw(origin, '/_next/static/chunks/main.js', { 'Accept-Encoding': 'br' })).headers['content-encoding']).toBeUndefined()
    const pageResponse = await raw(origin, '/about', { 'Accept-Encoding': 'gzip' })
    expect(pageResponse.headers['content-encoding']).toBe('gzip')
    const html = gunzipSync(pageResponse.body).toString()
    const nonce = /'nonce-([^']+)'/.exec(pageResponse.headers['content-security-policy'] as string)![1]
    expect(html).toContain(`<meta property="csp-nonce" nonce="${nonce}">`)
    expect(pageResponse.headers['cache-control']).toBe('no-store')
    expect(pageResponse.headers.etag).toBeUndefined()
    const none = await listen({ root: site, compress: false })
    expect((await raw(none, '/big.txt', { 'Accept-Encoding': 'br' })).headers['content-encoding']).toBeUndefined()
  })
})
