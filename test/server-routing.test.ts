/**
 * One URL-to-file rule everywhere: the runtime and a real nginx running the documented recipe (try_files plus
 * the csp-seal.nginx.conf include) answer a corpus of URLs identically, on a site with a Next.js-export layout
 * (about.html beside about/), a Docusaurus layout (docs/intro/index.html linked as /docs/intro), both forms
 * of one path, a 404 page and assets; with and without an SPA fallback. Also: the rule's properties.
 */
import { request as httpRequest, createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory } from '../src/index.js'
import { pageRoutes, resolveIn, routeAnswers } from '../src/output/routes.js'
import { createMiddleware } from '../src/server/index.js'
import { startNginx, type RunningNginx } from './support/nginx.js'

interface Answer {
  status: number
  location?: string
  csp?: string
  title?: string
}

function get(origin: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}/`, { path }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk))
      res.on('end', () => {
        const answer: Answer = { status: res.statusCode! }
        if (res.headers.location) answer.location = new URL(res.headers.location, origin).href.slice(origin.length)
        if (res.headers['content-security-policy']) answer.csp = res.headers['content-security-policy'] as string
        const title = /<title>([^<]*)<\/title>/.exec(body)?.[1]
        if (title && res.statusCode! < 300) answer.title = title
        if (res.statusCode === 404) answer.title = title ?? 'none'
        resolve(answer)
      })
    })
    req.on('error', reject)
    req.end()
  })
}

const page = (title: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><script>window.page = ${JSON.stringify(title)}</script></head><body><h1>${title}</h1></body></html>`

const FILES: Record<string, string> = {
  'index.html': page('home'),
  'about.html': page('about'),
  'about/team.html': page('team'),
  'docs/intro/index.html': page('intro'),
  'both.html': page('both file'),
  'both/index.html': page('both folder'),
  '404.html': page('not found'),
  'app.js': 'window.app = 1\n',
  'doc.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
}

const URLS = [
  '/',
  '/index.html',
  '/about',
  '/about.html',
  '/about/',
  '/about/team',
  '/about/team.html',
  '/about/team/',
  '/docs/intro',
  '/docs/intro/',
  '/docs/intro/index.html',
  '/docs/intro?x=1',
  '/about/?y=2',
  '/docs',
  '/docs/',
  '/both',
  '/both/',
  '/both.html',
  '/both/index.html',
  '/nope',
  '/nope/',
  '/missing.js',
  '/app.js',
  '/csp-seal.json',
  '/csp-seal.nginx.conf',
  '/doc.svg',
  '/users/42',
  '/users/42/',
  '/users/42/data.json',
]

let site: string
let nginx: RunningNginx
const servers: Server[] = []

async function runtime(options: { fallback?: string }): Promise<string> {
  const server = createServer(createMiddleware({ root: site, nonce: false, ...options }))
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The server blocks of docs/server.md's nginx recipe, read from the doc so that what it prints is what runs. */
async function recipe(name: string): Promise<string> {
  const doc = await (await import('node:fs/promises')).readFile(new URL('../docs/server.md', import.meta.url), 'utf8')
  const block = new RegExp(`<!-- recipe: ${name} -->\\s*\`\`\`nginx\\n([\\s\\S]*?)\`\`\``).exec(doc)?.[1]
  if (!block) throw new Error(`docs/server.md has no nginx block after <!-- recipe: ${name} -->`)
  return block.replaceAll('/srv/site/dist', site).replace(/listen 80;/, 'listen 127.0.0.1:{{port}};')
}

beforeAll(async () => {
  site = await mkdtemp(join(tmpdir(), 'csp-seal-routing-'))
  await chmod(site, 0o755) // nginx workers may run as another user
  for (const [file, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(site, file)), { recursive: true })
    await writeFile(join(site, file), content)
  }
  await sealDirectory(site, { headers: ['nginx'] })
  nginx = await startNginx([await recipe('nginx-hash-only'), await recipe('nginx-spa')])
})
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
  await nginx?.stop()
  if (site) await rm(site, { recursive: true, force: true })
})

describe('the runtime and nginx with the documented recipe answer every URL alike', { timeout: 300_000 }, () => {
  for (const [name, fallback, nginxIndex] of [
    ['a multi-page site', undefined, 0],
    ['an SPA with fallback index.html', 'index.html', 1],
  ] as const) {
    it(name, async () => {
      const ours = await runtime({ fallback })
      const theirs = nginx.origins[nginxIndex]!
      const table: string[] = []
      for (const url of URLS) {
        const [a, b] = [await get(ours, url), await get(theirs, url)]
        table.push(`${url}  runtime ${JSON.stringify({ ...a, csp: a.csp?.slice(0, 30) })}  nginx ${JSON.stringify({ ...b, csp: b.csp?.slice(0, 30) })}`)
        expect(b, `${url}\n${table.join('\n')}`).toEqual(a)
      }
      // The corpus covers what matters: pages, redirects, 404s, the fallback.
      const answers = await Promise.all(URLS.map((url) => get(ours, url)))
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200, 301, 404]))
    })
  }
})

describe('the routing rule', () => {
  const segment = fc.stringMatching(/^[a-z]{1,3}$/)
  const file = fc
    .tuple(fc.array(segment, { maxLength: 2 }), segment, fc.constantFrom('.html', '/index.html', '.js'))
    .map(([dirs, name, ext]) => [...dirs, name].join('/') + ext)

  it('gives each URL to at most one page, and each page its own path and clean URL unless another page owns it', () => {
    fc.assert(
      fc.property(fc.uniqueArray(file, { minLength: 1, maxLength: 12 }), (files) => {
        const pages = new Set(files.filter((f) => f.endsWith('.html')))
        const owner = new Map<string, string>()
        for (const f of pages) {
          const answers = routeAnswers(f, '/', pages)
          expect(answers.map((a) => a.route)).toContain(`/${f}`)
          for (const { route, redirect } of answers) {
            expect(owner.get(route), `${route} claimed by ${owner.get(route)} and ${f}`).toBeUndefined()
            owner.set(route, f)
            const found = resolveIn(route.slice(1), (x) => pages.has(x))
            if (redirect === undefined) expect(found).toEqual({ file: f })
            else expect(resolveIn(redirect.slice(1), (x) => pages.has(x))).toEqual({ file: f })
          }
        }
      }),
    )
  })

  it('includes the slashless URL of a folder page and the clean URL of a file page', () => {
    expect(pageRoutes('docs/intro/index.html', '/', ['docs/intro/index.html'])).toEqual(['/docs/intro/index.html', '/docs/intro/', '/docs/intro'])
    expect(pageRoutes('about.html', '/base/', ['about.html', 'about/team.html'])).toEqual(['/base/about.html', '/base/about', '/base/about/'])
    expect(pageRoutes('both/index.html', '/', ['both.html', 'both/index.html'])).toEqual(['/both/index.html', '/both/'])
    expect(pageRoutes('both.html', '/', ['both.html', 'both/index.html'])).toEqual(['/both.html', '/both'])
  })
})
