/**
 * `'strict-dynamic'` and what inline module scripts import, in Chromium, Firefox and WebKit.
 *
 * Chromium and Firefox fetch the imports of a parser-inserted module script as parser-inserted, so
 * `'strict-dynamic'` does not vouch for them and nothing else allows them: a hash-allowed inline module loads
 * nothing it imports, through the import map or by URL; nor does `import()` in a hash-allowed inline script.
 * WebKit lets them load. csp-seal's sealed page preloads each static import with `integrity` (allowed by its hash),
 * after the import map, and the page works in all three; `import()` it reports (see src/seal/import-map.ts).
 */
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { sealDirectory } from '../src/index.js'
import { startCdn } from './support/cdn.js'
import { forEachEngine, type EngineName } from './support/engines/index.js'
import { startReportingProxy, type ReportingProxy } from './support/engines/reporting-proxy.js'
import { supportTable } from './support/engines/support-table.js'
import { visit } from './support/engines/visit.js'
import { removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const table = supportTable('test/engines-import-map.test.ts')
const push = (id: string) => `(window.__ran = window.__ran || []).push('${id}');`
const STRICT = "script-src 'strict-dynamic'; object-src 'none'; base-uri 'none'"
/** What Chromium and Firefox do with an import nothing vouches for, and what WebKit does. */
const UNVOUCHED: Record<EngineName, 'blocked' | 'runs'> = { chromium: 'blocked', firefox: 'blocked', webkit: 'runs' }

let work: string
let cdn: Awaited<ReturnType<typeof startCdn>>
let sealed: StaticServer
let plain: StaticServer
let sealedProxy: ReportingProxy
let plainProxy: ReportingProxy
let hashOnlyProxy: ReportingProxy
let warnings: string[] = []
const closers: Array<{ close(): Promise<void> }> = []

beforeAll(async () => {
  cdn = await startCdn({ '/cdn-dep.js': `${push('cdn-dep')} export {}` })
  work = await mkdtemp(join(tmpdir(), 'csp-seal-import-map-'))
  const site = join(work, 'site')
  await mkdir(join(site, 'modules'), { recursive: true })
  await writeFile(join(site, 'modules/dep.js'), `import './dep2.js'; ${push('dep')}`)
  await writeFile(join(site, 'modules/dep2.js'), push('dep2'))
  await writeFile(join(site, 'modules/by-url.js'), push('by-url'))
  await writeFile(join(site, 'modules/lazy.js'), push('lazy'))
  const map = `<script type="importmap">{"imports":{"dep":"/modules/dep.js","cdn-dep":"${cdn.origin}/cdn-dep.js"}}</script>`
  const page = (title: string, body: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>\n${body}\n</head><body><p>${title}</p></body></html>\n`
  // Imports through the import map (one of them imports another module in turn), by URL, and from a CDN.
  await writeFile(
    join(site, 'imports.html'),
    page('imports', `${map}\n<script type="module">import 'dep'; import '/modules/by-url.js'; import 'cdn-dep'; ${push('inline-module')}</script>`),
  )
  await writeFile(join(site, 'dynamic.html'), page('dynamic', `<script>import('/modules/lazy.js'); ${push('inline-classic')}</script>`))
  await writeFile(
    join(site, 'dynamic-preloaded.html'),
    page('dynamic, preloaded', `<link rel="modulepreload" href="/modules/lazy.js">\n<script>import('/modules/lazy.js'); ${push('inline-classic')}</script>`),
  )
  // The same modules without any policy, a modulepreload before the import map.
  const unsealed = join(work, 'plain')
  await cp(site, unsealed, { recursive: true })
  await writeFile(
    join(unsealed, 'before-map.html'),
    page(
      'before map',
      `<link rel="modulepreload" href="/modules/dep.js">\n${map.replace(/,"cdn-dep":"[^"]+"/, '')}\n<script type="module">import 'dep'; ${push('inline-module')}</script>`,
    ),
  )
  // A hash-only script-src (neither 'self' nor 'strict-dynamic'), the import preloaded by the page, as Vite does.
  const hashOnly = join(work, 'hash-only')
  await cp(site, hashOnly, { recursive: true })
  await writeFile(
    join(hashOnly, 'preloaded.html'),
    page(
      'hash-only',
      `<link rel="modulepreload" href="/modules/by-url.js">\n<script type="module">import '/modules/by-url.js'; ${push('inline-module')}</script>`,
    ),
  )
  await sealDirectory(hashOnly, { policy: "default-src 'none'" }, { cwd: work })
  const result = await sealDirectory(site, { policy: STRICT }, { cwd: work })
  warnings = result.warnings.map((w) => `${w.file}: ${w.code}`)
  // The sealed page without the preloads csp-seal added: what a browser does with the policy alone.
  const sealedImports = await readFile(join(site, 'imports.html'), 'utf8')
  await writeFile(join(site, 'unpreloaded.html'), sealedImports.replace(/<link rel="modulepreload"[^>]*>/g, ''))
  sealed = await startStaticServer(site)
  plain = await startStaticServer(unsealed)
  sealedProxy = await startReportingProxy(sealed.origin)
  plainProxy = await startReportingProxy(plain.origin)
  const hashOnlyServer = await startStaticServer(join(work, 'hash-only'))
  hashOnlyProxy = await startReportingProxy(hashOnlyServer.origin)
  closers.push(hashOnlyProxy, hashOnlyServer)
})
afterAll(async () => {
  for (const server of [sealedProxy, plainProxy, sealed, plain, cdn, ...closers]) await server?.close()
  await removeDir(work)
})

it('csp-seal preloads the three imports with integrity, after the import map, and warns about import()', async () => {
  const html = await readFile(join(work, 'site/imports.html'), 'utf8')
  const links = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)" integrity="sha384-[^"]+"( crossorigin="anonymous")?>/g)].map((m) => m[1])
  expect(links).toEqual(['/modules/dep.js', '/modules/by-url.js', `${cdn.origin}/cdn-dep.js`])
  expect(html.indexOf('type="importmap"')).toBeLessThan(html.indexOf('rel="modulepreload"'))
  expect(warnings).toEqual(['dynamic.html: strict-dynamic-import'])
})

forEachEngine((engine, name) => {
  const imported = ['dep', 'dep2', 'by-url', 'cdn-dep']

  it(`without the preloads, the imports are ${UNVOUCHED[name] === 'runs' ? 'loaded' : 'blocked'}`, async () => {
    const v = await visit(engine(), sealedProxy, '/unpreloaded.html')
    try {
      if (UNVOUCHED[name] === 'runs') {
        await v.waitForRan([...imported, 'inline-module'])
        expect(v.blocked, v.describe()).toEqual([])
      } else {
        // A module one of whose imports fails never runs. Chromium reports all three blocks, Firefox stops at the first.
        await v.waitForReports(1)
        expect(v.ran, v.describe()).toEqual([])
        const blocked = [
          `script-src-elem ${cdn.origin}/cdn-dep.js`,
          `script-src-elem ${sealedProxy.origin}/modules/by-url.js`,
          `script-src-elem ${sealedProxy.origin}/modules/dep.js`,
        ]
        expect(v.blocked, v.describe()).toContain(blocked[2])
        expect(blocked, v.describe()).toEqual(expect.arrayContaining(v.blocked))
      }
      table.record(engine(), 'strict-dynamic-import-raw', UNVOUCHED[name])
    } finally {
      await v.close()
    }
  })

  it('as csp-seal seals it, every import loads, through the import map, by URL, from the CDN and one import further', async () => {
    const v = await visit(engine(), sealedProxy, '/imports.html')
    try {
      await v.waitForRan([...imported, 'inline-module'])
      expect([...v.ran].sort(), v.describe()).toEqual([...imported, 'inline-module'].sort())
      expect(v.blocked, v.describe()).toEqual([])
      expect(v.events ?? [], v.describe()).toEqual([])
      table.record(engine(), 'strict-dynamic-import-sealed', 'yes')
    } finally {
      await v.close()
    }
  })

  it(`import() in a hash-allowed inline script: ${UNVOUCHED[name]}`, async () => {
    const v = await visit(engine(), sealedProxy, '/dynamic.html')
    try {
      if (UNVOUCHED[name] === 'runs') {
        await v.waitForRan(['inline-classic', 'lazy'])
        expect(v.blocked, v.describe()).toEqual([])
      } else {
        await v.waitForReports(1)
        expect(v.ran, v.describe()).toEqual(['inline-classic'])
        expect(v.blocked, v.describe()).toEqual([`script-src-elem ${sealedProxy.origin}/modules/lazy.js`])
      }
      table.record(engine(), 'strict-dynamic-dynamic-import', UNVOUCHED[name])
    } finally {
      await v.close()
    }
  })

  it('import() of a module the page preloads (csp-seal pins the preload) runs', async () => {
    const v = await visit(engine(), sealedProxy, '/dynamic-preloaded.html')
    try {
      await v.waitForRan(['inline-classic', 'lazy'])
      expect(v.blocked, v.describe()).toEqual([])
      table.record(engine(), 'strict-dynamic-dynamic-import-preloaded', 'yes')
    } finally {
      await v.close()
    }
  })

  // WebKit matches integrity hashes for <script> only: a hash-allowed preload does not carry an import there.
  const hashOnly = name === 'webkit' ? 'blocked' : 'runs'
  it(`a hash-only script-src: an inline module's import preloaded with integrity ${hashOnly === 'runs' ? 'runs' : 'is blocked'}`, async () => {
    const v = await visit(engine(), hashOnlyProxy, '/preloaded.html')
    try {
      if (hashOnly === 'runs') {
        await v.waitForRan(['by-url', 'inline-module'])
        expect(v.blocked, v.describe()).toEqual([])
      } else {
        await v.waitForBlocked([`script-src-elem ${hashOnlyProxy.origin}/modules/by-url.js`])
        expect(v.ran, v.describe()).toEqual([])
      }
      table.record(engine(), 'hash-only-import', hashOnly)
    } finally {
      await v.close()
    }
  })

  // Why csp-seal puts its preloads after the import map: Firefox ignores an import map that comes after a modulepreload.
  const mapIgnored = name === 'firefox'
  it(`a modulepreload before the import map: the map ${mapIgnored ? 'is ignored' : 'applies'}`, async () => {
    const v = await visit(engine(), plainProxy, '/before-map.html')
    try {
      if (mapIgnored) {
        // The bare specifier does not resolve: the module fails before it runs. The preloaded file still loads.
        await v.waitFor(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/modules/dep.js')))
        await v.settle()
        expect(v.ran, v.describe()).toEqual([])
        expect(
          v.messages?.some((m) => /bare specifier/i.test(m)),
          v.describe(),
        ).toBe(true)
      } else {
        await v.waitForRan(['dep', 'dep2', 'inline-module'])
      }
      expect(v.blocked).toEqual([])
      table.record(engine(), 'modulepreload-before-map', mapIgnored ? 'map ignored' : 'map applies')
    } finally {
      await v.close()
    }
  })
})

table.declareCheck()
