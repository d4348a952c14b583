/**
 * Policy scope: the framework detection rules (on the committed framework builds, and on hand-made pages that
 * carry a look-alike of a marker but not the marker, so no rule passes by accident), the scope `auto` picks, the
 * union of the site's inline hashes, and a property: at site scope every page's policy allows every inline
 * element of every page. Header files at site scope are one rule, read back by the hosts' own parsers.
 */
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseAllHeaders } from '@netlify/headers-parser'
import { getTransformedRoutes } from '@vercel/routing-utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { resolveConfig, sealDirectory, SealError } from '../src/index.js'
import { allowsInline } from '../src/csp/inline.js'
import { parsePolicy } from '../src/csp/policy.js'
import { fastScanHtml } from '../src/html/fast-scan.js'
import { chooseScope, detectFramework, samplePages, type PageSample } from '../src/site/framework.js'
import { findPages } from '../src/site/site-fs.js'
import { listFrameworkFixtures } from './support/frameworks.js'
import { useTempDirs } from './support/sites.js'

const { track } = useTempDirs()

/** The framework detection names for each committed fixture (fixture.json's name for it where they differ). */
const DETECTED: Record<string, string | undefined> = {
  Angular: 'Angular',
  Astro: 'Astro',
  Docusaurus: 'Docusaurus',
  Eleventy: 'Eleventy',
  'Next.js': 'Next.js',
  Nuxt: 'Nuxt',
  SvelteKit: 'SvelteKit',
  VitePress: 'VitePress',
  // Plain Vite builds of one page carry no framework marker: a single-page build.
  'React (Vite)': undefined,
  Vue: undefined,
}

describe('framework detection on the committed builds', () => {
  for (const fixture of listFrameworkFixtures()) {
    it(`${fixture.name}: ${fixture.framework}, ${fixture.clientRouter ? 'a client-side router: site scope' : 'no client-side router: page scope'}`, () => {
      const { pages } = findPages(fixture.siteDir)
      const detection = detectFramework(samplePages(pages), pages.length)
      expect(fixture.framework in DETECTED, `${fixture.framework} is listed in DETECTED`).toBe(true)
      expect(detection.framework).toBe(DETECTED[fixture.framework])
      expect(detection.clientRouter).toBe(fixture.clientRouter)
      expect(chooseScope('auto', detection)).toBe(fixture.clientRouter ? 'site' : 'page')
      expect(chooseScope('page', detection)).toBe('page')
      expect(chooseScope('site', detection)).toBe('site')
    })
  }
})

const page = (html: string, file = 'index.html'): PageSample => ({ file, html })
/** Detection on a multi-page site whose sampled page is `html`. */
const detect = (html: string) => detectFramework([page(html)], 3)

describe('framework detection rules, each against a look-alike', () => {
  const cases: Array<{ rule: string; hit: string; miss: string; router: boolean }> = [
    { rule: 'VitePress', hit: '<script>window.__VP_HASH_MAP__=JSON.parse("{}")</script>', miss: '<div class="vp-doc VPContent">VitePress</div>', router: true },
    {
      rule: 'VitePress',
      hit: '<meta name="generator" content="VitePress v1.6.4">',
      miss: '<meta name="description" content="VitePress v1.6.4">',
      router: true,
    },
    { rule: 'SvelteKit', hit: '<script>__sveltekit_1x2y = { base: "" }</script>', miss: '<p>the __sveltekit_ prefix</p>', router: true },
    {
      rule: 'SvelteKit',
      hit: '<script type="module">import("./_app/immutable/entry/start.js")</script>',
      miss: '<p>files go to _app/immutable/entry/ in the build</p>',
      router: true,
    },
    {
      rule: 'Nuxt',
      hit: '<div id="__nuxt"></div><script src="/_nuxt/a.js"></script><script>window.__NUXT__={}</script>',
      miss: '<script>window.__NUXT__={}</script>',
      router: true,
    },
    {
      rule: 'Next.js',
      hit: '<script src="/_next/static/chunks/a.js"></script><script>(self.__next_f=self.__next_f||[]).push([0])</script>',
      miss: '<img src="/_next/static/media/a.png">',
      router: true,
    },
    {
      rule: 'Next.js',
      hit: '<script src="/_next/static/chunks/a.js"></script><script id="__NEXT_DATA__" type="application/json">{}</script>',
      miss: '<script id="__NEXT_DATA__" type="application/json">{}</script>',
      router: true,
    },
    { rule: 'Docusaurus', hit: '<div id=__docusaurus><nav></nav></div>', miss: '<div id="__docusaurus-base-url-issue-banner"></div>', router: true },
    { rule: 'Docusaurus', hit: '<meta name=generator content="Docusaurus v3.10.2">', miss: '<meta name=generator content="Docusaurus-like v1">', router: true },
    { rule: 'Gatsby', hit: '<div id="___gatsby"><div id="gatsby-focus-wrapper"></div></div>', miss: '<div id="___gatsby-like"></div>', router: true },
    {
      rule: 'Astro',
      hit: '<meta name="generator" content="Astro v5.18.2"><meta name="astro-view-transitions-enabled" content="true">',
      miss: '<meta name="generator" content="Astronomy v1">',
      router: true,
    },
    {
      rule: 'Astro',
      hit: '<meta name="generator" content="Astro v5.18.2"><link rel="stylesheet" href="/_astro/index.css">',
      miss: '<p>_astro/ is where Astro puts assets</p>',
      router: false,
    },
    {
      rule: 'Angular',
      hit: '<app-root ng-version="21.2.26"><router-outlet></router-outlet></app-root>',
      miss: '<p>ng-version</p><router-outlet></router-outlet>',
      router: true,
    },
    { rule: 'Angular', hit: '<app-root ng-version="21.2.26"></app-root>', miss: '<app-root></app-root><script src="app.js"></script>', router: false },
    { rule: 'Eleventy', hit: '<meta name="generator" content="Eleventy v3.1.8">', miss: '<p>Built with Eleventy</p>', router: false },
  ]
  for (const { rule, hit, miss, router } of cases) {
    it(`${rule}: ${hit.slice(0, 60)}`, () => {
      const found = detect(`<!doctype html><html><head></head><body>${hit}</body></html>`)
      expect(found.framework).toBe(rule)
      expect(found.clientRouter).toBe(router)
      expect(chooseScope('auto', found)).toBe(router ? 'site' : 'page')
      expect(detect(`<!doctype html><html><head></head><body>${miss}</body></html>`).framework).toBeUndefined()
    })
  }

  it('a site of one page is a single-page build (site scope); many plain pages are page scope', () => {
    const plain = '<!doctype html><title>x</title><p>hello</p>'
    expect(detectFramework([page(plain)], 1)).toEqual({ clientRouter: true, evidence: 'one page (index.html): a single-page build' })
    expect(detectFramework([page(plain), page(plain, 'a.html')], 2)).toEqual({ clientRouter: false, evidence: 'no framework marker in index.html, a.html' })
    expect(chooseScope('auto', detectFramework([page(plain)], 2))).toBe('page')
  })
})

describe('the scope option', () => {
  it('is auto by default; a wrong value is refused with a suggestion', () => {
    expect(resolveConfig({}).scope).toBe('auto')
    expect(resolveConfig({ scope: 'site' }).scope).toBe('site')
    let error: unknown
    try {
      resolveConfig({ scope: 'sites' as 'site' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SealError)
    expect((error as SealError).problems[0]!.message).toBe('scope must be one of auto, page, site, not "sites" (did you mean "site"?)')
  })
})

async function site(files: Record<string, string>): Promise<string> {
  const dir = track(await mkdtemp(join(tmpdir(), 'csp-seal-scope-')))
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true })
    await writeFile(join(dir, file), text)
  }
  return dir
}

const doc = (body: string) => `<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>${body}</body></html>`

/** Every inline element and attribute of a page, with the directive that governs it. */
function inlineOf(html: string, config: { eventHandlers: string }) {
  const scan = fastScanHtml(html)
  return [
    ...scan.inline.map((code) => ({ directive: code.element === 'script' ? ('script-src-elem' as const) : ('style-src-elem' as const), text: code.text })),
    ...scan.attributes
      .filter((a) => a.kind === 'style' || (a.kind === 'handler' && config.eventHandlers === 'hash'))
      .map((a) => ({ directive: a.kind === 'style' ? ('style-src-attr' as const) : ('script-src-attr' as const), text: a.value })),
  ]
}

describe('site scope: the union of the site inline hashes', () => {
  const pages = {
    'index.html': doc('<script>one()</script><p style="color: red">a</p>'),
    'about/index.html': doc('<style>p { color: blue }</style><button onclick="go()">b</button>'),
    'blog.html': doc('<script>two()</script><span style="margin: 0">c</span>'),
  }

  it('gives every page the hashes of every page, by directive, handlers only where enabled', async () => {
    const dir = await site(pages)
    const result = await sealDirectory(dir, { scope: 'site', eventHandlers: 'hash' }, { keepManifest: true })
    expect(result.siteScope.scope).toBe('site')
    expect(result.siteScope.framework).toBeUndefined()
    const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')) as {
      pages: Record<string, { scriptHashes: string[]; styleHashes: string[]; attributeHashes: string[]; policy: string }>
    }
    const entries = Object.values(manifest.pages)
    for (const entry of entries) {
      expect(entry.scriptHashes).toHaveLength(2)
      expect(entry.styleHashes).toHaveLength(1)
      // Two style attributes and one handler: each lands in its own directive.
      expect(entry.attributeHashes).toHaveLength(3)
      const policy = parsePolicy(entry.policy)
      expect(policy.get('script-src-attr')?.filter((s) => s.startsWith("'sha"))).toHaveLength(1)
      expect(policy.get('style-src-attr')?.filter((s) => s.startsWith("'sha"))).toHaveLength(2)
    }
    const sealed = await sealDirectory(await site(pages), { scope: 'site' }, { keepManifest: true })
    // Handlers stay reported, not hashed, unless eventHandlers is 'hash'.
    for (const summary of sealed.pages) expect(summary.manifest!.policy).not.toContain('script-src-attr')
  })

  it('at page scope each page keeps only its own; auto on plain pages is page scope', async () => {
    const result = await sealDirectory(await site(pages), {}, { keepManifest: true })
    expect(result.siteScope.scope).toBe('page')
    expect(result.pages.map((p) => [p.file, p.scriptHashes, p.styleHashes])).toEqual([
      ['about/index.html', 0, 1],
      ['blog.html', 1, 0],
      ['index.html', 1, 0],
    ])
  })

  it('property: at site scope every page policy allows every inline element of every page', async () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ';', ':', '(', ')', '1', 'é', '\n'), maxLength: 12 })
    const element = fc.oneof(
      text.map((t) => `<script>var x = "${t.replace(/["\\]/g, '')}"</script>`),
      text.map((t) => `<style>/*${t.replace(/\*\//g, '')}*/</style>`),
      text.map((t) => `<p style="${t.replace(/"/g, '')}">p</p>`),
      text.map((t) => `<b onclick="${t.replace(/"/g, '')}">b</b>`),
    )
    const sitePages = fc.array(fc.array(element, { maxLength: 4 }), { minLength: 1, maxLength: 4 })
    await fc.assert(
      fc.asyncProperty(sitePages, fc.constantFrom('report', 'hash'), async (bodies, eventHandlers) => {
        const files = Object.fromEntries(bodies.map((body, i) => [`p${i}.html`, doc(body.join(''))]))
        const dir = await site(files)
        await sealDirectory(dir, { scope: 'site', eventHandlers: eventHandlers as 'report' | 'hash' })
        const sealed = await Promise.all(Object.keys(files).map(async (file) => readFile(join(dir, file), 'utf8')))
        const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')) as { pages: Record<string, { policy: string }> }
        for (const file of Object.keys(files)) {
          const policy = parsePolicy(manifest.pages[file]!.policy)
          for (const html of sealed) {
            for (const { directive, text: code } of inlineOf(html, { eventHandlers }))
              expect(allowsInline(policy, directive, code), `${file} allows ${directive} ${JSON.stringify(code)}`).toBe(true)
          }
        }
      }),
      { numRuns: 40 },
    )
  })
})

describe('header files at site scope', () => {
  const pages = { 'index.html': doc('<script>a()</script>'), 'docs/guide.html': doc('<style>b{}</style>') }

  it('write one rule for every path, with the site policy, read back by Netlify and Vercel', async () => {
    const dir = await site(pages)
    await sealDirectory(dir, { scope: 'site', headers: ['netlify', 'vercel', 'nginx'] })
    const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')) as { pages: Record<string, { policy: string }> }
    const policies = new Set(Object.values(manifest.pages).map((p) => p.policy))
    expect(policies.size).toBe(1)
    const [policy] = policies

    const { headers, errors } = await parseAllHeaders({ headersFiles: [join(dir, '_headers')], minimal: false, configHeaders: undefined })
    expect(errors).toEqual([])
    const rules = headers.filter((rule) => (rule.values as Record<string, string>)['Content-Security-Policy'] === policy)
    expect(rules.map((rule) => rule.for)).toEqual(['/*'])
    const reader = (url: string) => rules.some((rule) => 'forRegExp' in rule && (rule.forRegExp as RegExp).test(url))
    expect(['/', '/about', '/docs/guide.html', '/deep/client/route'].every(reader)).toBe(true)

    const vercel = JSON.parse(await readFile(join(dir, 'vercel.json'), 'utf8')) as {
      headers: Array<{ source: string; headers: Array<{ key: string; value: string }> }>
    }
    const routes = getTransformedRoutes({ headers: vercel.headers })
    expect(routes.error).toBeNull()
    expect(vercel.headers.filter((entry) => entry.headers.some((h) => h.value === policy))).toHaveLength(1)
    const route = routes.routes!.find((r) => 'headers' in r && r.headers?.['Content-Security-Policy'] === policy) as { src: string }
    const matches = (path: string) => new RegExp(route.src).test(path)
    expect(['/', '/about', '/docs/guide.html', '/deep/client/route'].every(matches)).toBe(true)
    expect(['/logo.svg', '/feed.xml'].some(matches)).toBe(false)

    const nginx = await readFile(join(dir, 'csp-seal.nginx.conf'), 'utf8')
    expect(nginx.match(/^add_header Content-Security-Policy .* always;$/gm)).toEqual([`add_header Content-Security-Policy "${policy}" always;`])
    expect(nginx).not.toContain('location = "/docs/guide.html"')
  })

  it('at page scope, a _headers file past the rule limit Cloudflare Pages reads is warned of, with the way out', async () => {
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}.html`, doc(`<p>${i}</p>`)]))
    const result = await sealDirectory(await site(many), { scope: 'page', headers: ['netlify', 'vercel'] })
    const warning = result.warnings.find((w) => w.code === 'header-file-too-large')
    expect(warning).toMatchObject({ file: '_headers', fix: expect.stringContaining('--scope site') })
    expect(warning!.message).toContain('at most 100 rules')
    expect(result.warnings.filter((w) => w.code === 'header-file-too-large')).toHaveLength(1)
    const small = await sealDirectory(await site(pages), { scope: 'page', headers: ['netlify', 'vercel'] })
    expect(small.warnings.some((w) => w.code === 'header-file-too-large')).toBe(false)
    const siteScope = await sealDirectory(await site(many), { scope: 'site', headers: ['netlify', 'vercel'] })
    expect(siteScope.warnings.some((w) => w.code === 'header-file-too-large')).toBe(false)
  })

  it('at site scope, a union too large for a policy header is warned of, with the ways out; a small one is not', async () => {
    // 200 pages, each with an inline script of its own: every page's policy carries 200 hashes (about 11 KiB).
    const distinct = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}.html`, doc(`<script>window.page = ${i}</script>`)]))
    const large = await sealDirectory(await site(distinct), { scope: 'site' })
    const warning = large.warnings.find((w) => w.code === 'site-policy-large')
    expect(warning?.message).toMatch(/^at site scope every page's policy carries the inline hashes of all 200 pages: 200 hashes, 1\d KiB;/)
    expect(warning?.fix).toContain('--scope page')
    expect(large.warnings.filter((w) => w.code === 'site-policy-large')).toHaveLength(1)
    // The same inline script on every page: one hash, whatever the number of pages.
    const shared = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}.html`, doc('<script>window.page = 1</script>')]))
    expect((await sealDirectory(await site(shared), { scope: 'site' })).warnings.some((w) => w.code === 'site-policy-large')).toBe(false)
    expect((await sealDirectory(await site(distinct), { scope: 'page' })).warnings.some((w) => w.code === 'site-policy-large')).toBe(false)
  })
})
