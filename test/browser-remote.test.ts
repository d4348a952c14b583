/**
 * CDN files sealed with integrity, in Chromium, Firefox and WebKit: the page loads its CDN script, module and
 * stylesheet with zero violations, the scripts allowed only by the hash of their integrity (CSP3 external hashes);
 * another script on the same CDN cannot run; altered CDN bytes are refused. Allowed by origin instead, the CDN
 * files run, and so does every other script of that origin.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory, type CspSealConfig } from '../src/index.js'
import { startCdn } from './support/cdn.js'
import { expectNothingBlocked } from './support/engines/checks.js'
import { forEachEngine } from './support/engines/index.js'
import { startReportingProxy, type ReportingProxy } from './support/engines/reporting-proxy.js'
import { supportTable } from './support/engines/support-table.js'
import { visit } from './support/engines/visit.js'
import { removeDir } from './support/sites.js'
import { startStaticServer } from './support/static-server.js'

const LIB = "(window.__ran = window.__ran || []).push('cdn:lib')"
const MOD = "(window.__ran = window.__ran || []).push('cdn:module')"
const OLD_LIB = "(window.__ran = window.__ran || []).push('cdn:old-vulnerable-lib')"
const CSS = '#title { color: rgb(7, 8, 9) }'
const table = supportTable('test/browser-remote.test.ts')

let cdn: Awaited<ReturnType<typeof startCdn>>
let work: string
let site: ReportingProxy // allowed by integrity (the default)
let strictSite: ReportingProxy // the same under 'strict-dynamic'
let originSite: ReportingProxy // allowed by origin
let tamperedSite: ReportingProxy // sealed against files under /tampered/ that the CDN then alters
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  cdn = await startCdn({
    '/lib.js': LIB,
    '/mod.js': MOD,
    '/theme.css': CSS,
    '/old-lib.js': OLD_LIB,
    '/tampered/lib.js': LIB,
    '/tampered/mod.js': MOD,
    '/tampered/theme.css': CSS,
  })
  work = await mkdtemp(join(tmpdir(), 'csp-seal-cdn-'))
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>CDN</title>
<link rel="stylesheet" href="${cdn.origin}/theme.css">
<link rel="modulepreload" href="${cdn.origin}/mod.js">
<script src="${cdn.origin}/lib.js"></script>
<script type="module" src="${cdn.origin}/mod.js"></script>
<script>(window.__ran = window.__ran || []).push('page:inline')</script>
</head><body><h1 id="title">CDN page</h1></body></html>`
  // The attacker's markup is injected into the page after sealing; the sealed page itself is untouched otherwise.
  const attack = (path: string, bytes: Buffer) =>
    path === '/attacked.html' ? bytes.toString().replace('</body>', `<script src="${cdn.origin}/old-lib.js"></script></body>`) : bytes
  const sealed = async (name: string, config: CspSealConfig, page = html) => {
    const dir = join(work, name)
    await mkdir(dir)
    await writeFile(join(dir, 'index.html'), page)
    await sealDirectory(dir, config, { cwd: work })
    await writeFile(join(dir, 'attacked.html'), await readFile(join(dir, 'index.html')))
    const server = await startStaticServer(dir, { rewrite: attack })
    const proxy = await startReportingProxy(server.origin)
    cleanup.push(
      () => proxy.close(),
      () => server.close(),
    )
    return proxy
  }
  site = await sealed('site', {})
  // Google's strict CSP shape: 'unsafe-inline' and https: are fallbacks for old browsers, ignored next to 'strict-dynamic'.
  strictSite = await sealed('strict', {
    policy: `default-src 'self'; script-src 'strict-dynamic' 'unsafe-inline' https:; style-src 'self' ${cdn.origin}; object-src 'none'; base-uri 'none'`,
  })
  originSite = await sealed('origin', { remote: { allow: 'origin' } })
  // Altered files get URLs of their own, which no other test loads: no browser can answer them from a copy of the
  // original bytes it kept (WebKit's memory cache ran a module it had loaded before, whatever the headers said).
  tamperedSite = await sealed('tampered', {}, html.replaceAll(`${cdn.origin}/`, `${cdn.origin}/tampered/`))
  Object.assign(cdn.routes, {
    '/tampered/lib.js': `${LIB};(window.__ran.push('cdn:tampered'))`,
    '/tampered/mod.js': `${MOD};(window.__ran.push('cdn:tampered-module'))`,
    '/tampered/theme.css': '#title { color: rgb(255, 0, 0) }',
  })
})
afterAll(async () => {
  for (const undo of cleanup) await undo()
  await cdn?.close()
  await removeDir(work)
})

forEachEngine((engine, name) => {
  // WebKit matches integrity hashes for <script> only: it blocks the <link rel=modulepreload> of a CDN file allowed by
  // hash (the module itself then loads by its <script type=module>, which is allowed).
  const preloadBlocked = () => (name === 'webkit' ? [`script-src-elem ${cdn.origin}/mod.js`] : [])

  describe('CDN files', () => {
    it(`the sealed page loads its CDN script, module and stylesheet${name === 'webkit' ? '; WebKit blocks the modulepreload' : ' with zero violations'}`, async () => {
      const v = await visit(engine(), site, '/index.html')
      try {
        await v.waitForRan(['cdn:lib', 'cdn:module', 'page:inline'])
        expect([...v.ran].sort(), v.describe()).toEqual(['cdn:lib', 'cdn:module', 'page:inline'])
        expect(await v.style('#title', 'color')).toBe('rgb(7, 8, 9)')
        expect(v.blocked, v.describe()).toEqual(preloadBlocked())
        if (name !== 'webkit') expectNothingBlocked(v)
        table.record(engine(), 'cdn-hash', name === 'webkit' ? 'yes; its CDN `modulepreload` blocked' : 'yes')
      } finally {
        await v.close()
      }
    })

    it("under 'strict-dynamic', the integrity hashes are what let the CDN files load", async () => {
      const v = await visit(engine(), strictSite, '/index.html')
      try {
        await v.waitForRan(['cdn:lib', 'cdn:module', 'page:inline'])
        expect([...v.ran].sort(), v.describe()).toEqual(['cdn:lib', 'cdn:module', 'page:inline'])
        expectNothingBlocked(v)
        table.record(engine(), 'strict-dynamic-cdn', 'yes')
      } finally {
        await v.close()
      }
    })

    it('another script from the same CDN origin is blocked', async () => {
      const v = await visit(engine(), site, '/attacked.html')
      try {
        await v.waitForRan(['cdn:lib', 'cdn:module', 'page:inline'])
        expect(v.ran, v.describe()).not.toContain('cdn:old-vulnerable-lib')
        expect(v.blocked, v.describe()).toEqual([...preloadBlocked(), `script-src-elem ${cdn.origin}/old-lib.js`])
        table.record(engine(), 'cdn-other-script', 'blocked')
      } finally {
        await v.close()
      }
    })

    it('allowed by origin instead, the CDN files run, and so does any other script the CDN serves', async () => {
      const v = await visit(engine(), originSite, '/attacked.html')
      try {
        await v.waitForRan(['cdn:lib', 'cdn:module', 'page:inline', 'cdn:old-vulnerable-lib'])
        expect(await v.style('#title', 'color')).toBe('rgb(7, 8, 9)')
        expectNothingBlocked(v)
        table.record(engine(), 'cdn-origin', 'yes')
      } finally {
        await v.close()
      }
    })

    it('when the CDN serves altered bytes, the browser refuses the script, the module and the stylesheet', async () => {
      const served = cdn.requests.length
      const v = await visit(engine(), tamperedSite, '/index.html')
      try {
        // Each altered file was fetched, and refused by integrity (not by the policy): none of it ran or applied. The
        // load event waited for all three (a stylesheet, a parser-blocking script, a module).
        expect(v.ran, v.describe()).toEqual(['page:inline'])
        expect(await v.style('#title', 'color')).not.toBe('rgb(255, 0, 0)')
        expect(new Set(cdn.requests.slice(served))).toEqual(new Set(['/tampered/theme.css', '/tampered/mod.js', '/tampered/lib.js']))
        expect(v.blocked, v.describe()).toEqual(name === 'webkit' ? [`script-src-elem ${cdn.origin}/tampered/mod.js`] : [])
        table.record(engine(), 'cdn-tampered', 'refused')
      } finally {
        await v.close()
      }
    })
  })
})

table.declareCheck()
