/**
 * What inline module scripts import under 'strict-dynamic': csp-seal preloads each import with integrity (the hash
 * allows the preload, the import finds the module already loaded), right before the module that imports it and so
 * after its import map; it reports `import("…")` it cannot help. Browsers prove it in
 * test/engines-import-map.test.ts; here, the planning: which URL, where, which hash, and nothing when the
 * policy allows the imports anyway.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/config.js'
import { parsePolicy, sealHtml, SealError, type SealedPage } from '../src/index.js'
import { fastScanHtml } from '../src/html/fast-scan.js'
import { findModulePreloads, parseImportMap, resolveSpecifier } from '../src/seal/import-map.js'

const STRICT = "script-src 'strict-dynamic'; object-src 'none'; base-uri 'none'"
const sri384 = (text: string) => `sha384-${createHash('sha384').update(text).digest('base64')}`
const metaOf = (html: string) => /<meta http-equiv="Content-Security-Policy" content="([^"]*)" data-csp-seal>/.exec(html)?.[1]?.replace(/&amp;/g, '&')
const scriptSrc = (page: SealedPage) => parsePolicy(metaOf(page.html)!).get('script-src')!
const files: Record<string, string> = {
  'vendor/dep.js': 'export const dep = 1',
  'app/util.js': 'export const u = 2',
  'lib/x/y.js': 'export {}',
  'docs/rel.js': 'export {}',
}
const readAsset = async (path: string) => (path in files ? Buffer.from(files[path]!) : undefined)
const seal = (html: string, policy = STRICT, file = 'index.html', config: Record<string, unknown> = {}) =>
  sealHtml(html, { file, readAsset, config: { policy, ...config } })
const preloadsOf = (html: string) => [...html.matchAll(/<link rel="modulepreload" href="([^"]+)" integrity="([^"]+)"[^>]*>/g)].map((m) => [m[1], m[2]])

describe("inline modules under 'strict-dynamic'", () => {
  it('preloads a module imported through the import map, right before the module script, and allows it by its hash', async () => {
    const html =
      '<!doctype html><head><meta charset="utf-8"><script type="importmap">{"imports":{"dep":"/vendor/dep.js"}}</script>\n<script type="module">import { dep } from "dep"; console.log(dep)</script></head>'
    const page = await seal(html)
    const link = `<link rel="modulepreload" href="/vendor/dep.js" integrity="${sri384(files['vendor/dep.js']!)}">`
    expect(page.html).toContain(`</script>\n${link}<script type="module">`)
    expect(page.html.indexOf('type="importmap"')).toBeLessThan(page.html.indexOf(link))
    expect(scriptSrc(page)).toContain(`'${sri384(files['vendor/dep.js']!)}'`)
    expect(page.warnings).toEqual([])
  })

  it('preloads imports by URL, relative to the page, under a base path and a <base href>, once each', async () => {
    const html = '<script type="module">import "./rel.js"; import "/app/util.js"</script><script type="module">import "../app/util.js"</script>'
    const page = await seal(html, STRICT, 'docs/page.html')
    expect(preloadsOf(page.html)).toEqual([
      ['/docs/rel.js', sri384('export {}')],
      ['/app/util.js', sri384(files['app/util.js']!)],
    ])
    expect(page.html.indexOf('/app/util.js" integrity')).toBeLessThan(page.html.indexOf('<script type="module">'))
    const underBase = await sealHtml('<script type="module">import "./app/util.js"</script>', {
      file: 'index.html',
      readAsset,
      config: { policy: STRICT, base: '/site/' },
    })
    expect(preloadsOf(underBase.html)).toEqual([['/site/app/util.js', sri384(files['app/util.js']!)]])
    const withBase = await seal('<base href="/app/"><script type="module">import "./util.js"</script>')
    expect(preloadsOf(withBase.html)).toEqual([['/app/util.js', sri384(files['app/util.js']!)]])
  })

  it('follows scopes and prefix rules of the import map', async () => {
    const map = { imports: { 'lib/': '/lib/', dep: '/nowhere.js' }, scopes: { '/': { dep: '/vendor/dep.js' } } }
    const page = await seal(`<script type="importmap">${JSON.stringify(map)}</script><script type="module">import "lib/x/y.js"; import "dep"</script>`)
    expect(preloadsOf(page.html).map(([href]) => href)).toEqual(['/lib/x/y.js', '/vendor/dep.js'])
  })

  it("adds nothing a browser does not need: with 'self', for bare specifiers no map resolves, data: URLs, JSON modules, or a module the page already preloads", async () => {
    const importing = '<script type="importmap">{"imports":{"dep":"/vendor/dep.js"}}</script><script type="module">import "dep"</script>'
    const withSelf = await seal(importing, "script-src 'self'")
    expect(preloadsOf(withSelf.html)).toEqual([])
    const noop = await seal(
      '<script type="module">import "unmapped"; import "data:text/javascript,1"; import j from "/app/util.js" with { type: "json" }</script>',
    )
    expect(preloadsOf(noop.html)).toEqual([])
    const preloaded = await seal(
      '<link rel="modulepreload" href="/vendor/dep.js"><script type="importmap">{"imports":{"dep":"/vendor/dep.js"}}</script><script type="module">import "dep"</script>',
    )
    expect(preloadsOf(preloaded.html)).toEqual([['/vendor/dep.js', sri384(files['vendor/dep.js']!)]])
  })

  it('is idempotent: sealing the sealed page changes nothing', async () => {
    const once = await seal('<meta charset="utf-8"><script type="module">import "/vendor/dep.js"</script>')
    const twice = await seal(once.html)
    expect(twice.html).toBe(once.html)
    // The meta tag stays first where both insert at one offset.
    expect(once.html.indexOf('<meta http-equiv')).toBeLessThan(once.html.indexOf('<link rel="modulepreload"'))
  })

  it('reports import("…") in an inline script (blocked in Chromium and Firefox), unless the page preloads it', async () => {
    const page = await seal('<meta charset="utf-8"><p>\n<script>import("/vendor/dep.js")</script>')
    expect(page.warnings.map((w) => [w.code, w.line])).toEqual([['strict-dynamic-import', 2]])
    expect(page.warnings[0]!.fix).toContain('<link rel="modulepreload" href="/vendor/dep.js">')
    const preloaded = await seal(
      '<meta charset="utf-8"><link rel="modulepreload" href="/vendor/dep.js"><script type="module">import("/vendor/dep.js")</script>',
    )
    expect(preloaded.warnings).toEqual([])
  })

  it('fails naming the module script and the file when an import resolves to no file', async () => {
    const error = await seal('<script type="importmap">{"imports":{"dep":"/vendor/gone.js"}}</script>\n<script type="module">import "dep"</script>').catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(SealError)
    expect((error as SealError).problems).toMatchObject([
      {
        code: 'missing-asset',
        file: 'index.html',
        line: 2,
        message: expect.stringContaining('"dep", imported by this inline module, resolves to "vendor/gone.js"'),
      },
    ])
  })

  it('preloads a CDN module with its pinned integrity and crossorigin', async () => {
    const remote = async (url: string) => ({ kind: 'pinned' as const, integrity: sri384(`cdn ${url}`) })
    const page = await sealHtml(
      '<script type="importmap">{"imports":{"vue":"https://cdn.example/vue.js"}}</script><script type="module">import "vue"</script>',
      { file: 'index.html', config: { policy: STRICT }, remote: { resolve: remote } as never },
    )
    expect(page.html).toContain(
      `<link rel="modulepreload" href="https://cdn.example/vue.js" integrity="${sri384('cdn https://cdn.example/vue.js')}" crossorigin="anonymous">`,
    )
  })
})

describe('import maps, resolved as the HTML standard says', () => {
  const base = new URL('https://site.invalid/docs/page.html')
  it('normalises keys and addresses, and refuses a prefix rule whose address is not a folder', () => {
    const map = parseImportMap('{"imports":{"./a.js":"/b.js","x/":"/y","z/":"/lib/z/"}}', base)!
    expect(resolveSpecifier('./a.js', base, map)?.href).toBe('https://site.invalid/b.js')
    expect(resolveSpecifier('/docs/a.js', base, map)?.href).toBe('https://site.invalid/b.js')
    expect(resolveSpecifier('x/1.js', base, map)).toBeUndefined()
    expect(resolveSpecifier('z/1.js', base, map)?.href).toBe('https://site.invalid/lib/z/1.js')
    expect(parseImportMap('not json', base)).toBeUndefined()
  })
  it('lets a scope for the page win over the top-level rule', () => {
    const scan = fastScanHtml(
      '<script type="importmap">{"imports":{"a":"/top.js"},"scopes":{"/docs/":{"a":"/scoped.js"}}}</script><script type="module">import "a"</script>',
    )
    const found = findModulePreloads(scan, parsePolicy(STRICT), 'docs/page.html', resolveConfig({ policy: STRICT }))
    expect(found.preloads.map((p) => p.href)).toEqual(['/scoped.js'])
  })
})
