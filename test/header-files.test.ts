/**
 * Hostile page file names in the header files. For a corpus of names (newlines, `*`, `:name`, quotes, `$`,
 * `%`, `?`, `#`, brackets, non-ASCII…), each format either refuses the page with an error naming it, or writes a
 * file that an independent reader of that format (Netlify's own `_headers` parser, Vercel's own routing
 * utilities, a real nginx) reads back with exactly the intended routes and headers: every URL of every page
 * gets that page's headers and nothing else, and no other URL gets any page's headers.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseAllHeaders } from '@netlify/headers-parser'
import { getTransformedRoutes } from '@vercel/routing-utils'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveConfig, sealDirectory, SealError, siteFiles, type HeaderFormat, type ManifestPage } from '../src/index.js'
import { DOCUMENT_POLICY } from '../src/output/host-rules.js'
import { encodeUrlPath, routeAnswers } from '../src/output/routes.js'
import { nginxTest, startNginx } from './support/nginx.js'
import { snapshot } from './support/sites.js'

const HOSTILE = [
  'a\nRefresh: 0; url=https://evil.example/\nb.html',
  'crlf\r\nX-Injected: 1.html',
  'tab\t.html',
  '*.html',
  'docs/*/index.html',
  ':name.html',
  'blog/:slug/index.html',
  'sp ace.html',
  'quote".html',
  "apos'.html",
  'back\\slash.html',
  'dollar$x.html',
  'q?x.html',
  'hash#x.html',
  'pct%20x.html',
  '(group)+{x}[y]|.html',
  'semi;colon.html',
  'café/日本.html',
  '#comment.html',
  '!bang.html',
  'trailing .html',
  'a/index.html',
]
/** What each format cannot carry: `_headers` has no escape for a splat or a placeholder; nginx reads `$` and refuses controls here. */
const REFUSED: Record<HeaderFormat, (name: string) => boolean> = {
  netlify: (name) => /[*:]/.test(name),
  vercel: () => false,
  nginx: (name) => /[\u0000-\u001f$]/.test(name),
}
const OTHERS = ['index.html', 'about.html']
const PROBES = ['/other', '/x.html', '/name.html', '/about/x', '/a', '/b.html', '/Refresh', '/anything/at/all', '/docs/x/', '/blog/x/', '/group.html']

const pageOf = (n: number): ManifestPage => ({
  headers: { 'Content-Security-Policy': `default-src 'none'; img-src https://p${n}.example`, 'X-Page': String(n) },
  policy: '',
  reportOnly: false,
  scriptHashes: [],
  styleHashes: [],
  attributeHashes: [],
  integrity: {},
  remote: [],
  nonceSlots: { tags: [], meta: 0 },
  digest: '',
})

const temps: string[] = []
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true })
})
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'csp-seal-headers-'))
  temps.push(dir)
  await chmod(dir, 0o755)
  return dir
}

type Outcome = { refused: SealError } | { text: string }

async function write(format: HeaderFormat, name: string): Promise<{ outcome: Outcome; pages: Array<[string, ManifestPage]> }> {
  const pages: Array<[string, ManifestPage]> = [name, ...OTHERS].map((file, i) => [file, pageOf(i)])
  try {
    const files = await siteFiles(pages, resolveConfig({ headers: [format], manifest: false }), async () => undefined)
    return { outcome: { text: files[0]![1] }, pages }
  } catch (error) {
    if (error instanceof SealError) return { outcome: { refused: error }, pages }
    throw error
  }
}

/** Every URL (as a browser sends it) that should carry each page's headers. */
function expected(pages: Array<[string, ManifestPage]>): Map<string, Record<string, string>> {
  const files = pages.map(([file]) => file)
  const urls = new Map<string, Record<string, string>>()
  for (const [file, page] of pages) for (const { route } of routeAnswers(file, '/', files)) urls.set(encodeUrlPath(route), page.headers)
  return urls
}

/** Headers a reader gives each URL: merged over every matching rule (a name seen with two values is an error). */
function check(reader: (url: string) => Array<Record<string, string>>, pages: Array<[string, ManifestPage]>): void {
  const urls = expected(pages)
  for (const [url, headers] of urls) {
    const merged: Record<string, Set<string>> = {}
    for (const rule of reader(url)) for (const [key, value] of Object.entries(rule)) (merged[key] ??= new Set()).add(value)
    expect(Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, [...v]])), url).toEqual(
      Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    )
  }
  for (const probe of PROBES.filter((p) => !urls.has(p))) expect(reader(probe), probe).toEqual([])
  // Active documents get the document policy, and only that.
  expect(reader('/x/y.svg'), '/x/y.svg').toEqual([{ 'Content-Security-Policy': DOCUMENT_POLICY }])
}

it('writes routes as browsers send them: controls, space, %, ?, # and non-ASCII percent-encoded', () => {
  expect(encodeUrlPath('/a\nb c\t.html')).toBe('/a%0Ab%20c%09.html')
  expect(encodeUrlPath('/trailing ')).toBe('/trailing%20')
  expect(encodeUrlPath('/pct%20/q?x#y\\z')).toBe('/pct%2520/q%3Fx%23y%5Cz')
  expect(encodeUrlPath('/café/日本.html')).toBe('/caf%C3%A9/%E6%97%A5%E6%9C%AC.html')
  expect(encodeUrlPath('/*:(x)')).toBe('/*:(x)')
})

describe("_headers (Netlify, Cloudflare Pages), read back by Netlify's own parser", () => {
  for (const name of HOSTILE) {
    it(JSON.stringify(name), async () => {
      const { outcome, pages } = await write('netlify', name)
      if (REFUSED.netlify(name)) {
        expect('refused' in outcome && outcome.refused.problems.map((p) => p.file)).toContain(name)
        return
      }
      if (!('text' in outcome)) throw outcome.refused
      const file = join(await temp(), '_headers')
      await writeFile(file, outcome.text)
      const { headers: rules, errors } = await parseAllHeaders({ headersFiles: [file], minimal: false, configHeaders: undefined })
      expect(errors).toEqual([])
      const reader = (url: string) =>
        rules.filter((rule) => 'forRegExp' in rule && rule.forRegExp.test(url)).map((rule) => rule.values as Record<string, string>)
      check(reader, pages)
    })
  }

  it('refuses two pages its case-blind matching cannot tell apart, naming them', async () => {
    const pages: Array<[string, ManifestPage]> = [
      ['About.html', pageOf(1)],
      ['about.html', pageOf(2)],
    ]
    const error = await siteFiles(pages, resolveConfig({ headers: ['netlify'], manifest: false }), async () => undefined).catch((e) => e)
    expect(error).toBeInstanceOf(SealError)
    expect((error as SealError).message).toMatch(/about\.html: _headers cannot tell its URL \/about\.html from one of About\.html/)
  })
})

describe("vercel.json, read back by Vercel's own routing utilities", () => {
  for (const name of HOSTILE) {
    it(JSON.stringify(name), async () => {
      const { outcome, pages } = await write('vercel', name)
      if (!('text' in outcome)) throw outcome.refused
      const { routes, error } = getTransformedRoutes({ headers: JSON.parse(outcome.text).headers })
      expect(error).toBeNull()
      const reader = (url: string) =>
        (routes ?? [])
          .filter((route) => 'src' in route && new RegExp(route.src ?? '(?!)').test(url))
          .map((route) => (route as { headers: Record<string, string> }).headers)
      check(reader, pages)
    })
  }
})

describe('the nginx include, checked by nginx -t and served by a real nginx', { timeout: 300_000 }, () => {
  it('refuses names nginx would misread, naming each', async () => {
    for (const name of HOSTILE.filter(REFUSED.nginx)) {
      const { outcome } = await write('nginx', name)
      expect('refused' in outcome && outcome.refused.problems.map((p) => p.file), JSON.stringify(name)).toContain(name)
    }
  })

  it('serves every other hostile name with exactly its headers', async () => {
    const accepted = HOSTILE.filter((name) => !REFUSED.nginx(name))
    const root = await temp()
    const pages: Array<[string, ManifestPage]> = [...accepted, ...OTHERS].map((file, i) => [file, pageOf(i)])
    for (const [file] of pages) {
      await mkdir(dirname(join(root, file)), { recursive: true })
      await writeFile(join(root, file), `<!doctype html><title>${file}</title>`)
    }
    await writeFile(join(root, 'x.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
    const include = (await siteFiles(pages, resolveConfig({ headers: ['nginx'], manifest: false }), async () => undefined))[0]![1]
    await writeFile(join(root, 'csp-seal.nginx.conf'), include)
    const server = `server { listen 127.0.0.1:{{port}}; root ${root}; include ${join(root, 'csp-seal.nginx.conf')}; location / { try_files $uri $uri.html $uri/index.html =404; } }`
    expect(await nginxTest(server.replace('{{port}}', '1'))).toMatch(/syntax is ok/)
    const nginx = await startNginx([server])
    try {
      const reader = async (url: string): Promise<Array<Record<string, string>>> => {
        const { status, headers } = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
          const req = httpRequest(`${nginx.origins[0]}/`, { path: url }, (res) => {
            res.resume()
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }))
          })
          req.on('error', reject)
          req.end()
        })
        const found: Record<string, string> = {}
        if (typeof headers['x-page'] === 'string') found['X-Page'] = headers['x-page']
        if (typeof headers['content-security-policy'] === 'string') found['Content-Security-Policy'] = headers['content-security-policy']
        // A redirect carries no page headers; follow it as a browser would, to the page it leads to.
        if (status === 301) return reader(new URL(headers.location as string).pathname)
        return Object.keys(found).length ? [found] : []
      }
      const urls = expected(pages)
      for (const [url, headers] of urls) expect(await reader(url), url).toEqual([headers])
      for (const probe of PROBES.filter((p) => !urls.has(p))) expect(await reader(probe), probe).toEqual([])
      expect(await reader('/x.svg')).toEqual([{ 'Content-Security-Policy': DOCUMENT_POLICY }])
    } finally {
      await nginx.stop()
    }
  })
})

describe('sealing a site with a page the chosen format cannot name', () => {
  it('fails before writing anything, naming the page', async () => {
    const root = await temp()
    await writeFile(join(root, 'index.html'), '<!doctype html><title>home</title>')
    await writeFile(join(root, '*.html'), '<!doctype html><title>star</title>')
    const before = await snapshot(root)
    const error = await sealDirectory(root, { headers: ['netlify'] }).catch((e) => e)
    expect(error).toBeInstanceOf(SealError)
    expect((error as SealError).problems).toEqual([expect.objectContaining({ code: 'unsafe-route', file: '*.html' })])
    expect(await snapshot(root)).toEqual(before)
    expect(await readFile(join(root, 'index.html'), 'utf8')).toBe('<!doctype html><title>home</title>')
  })
})
