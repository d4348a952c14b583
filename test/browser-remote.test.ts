/**
 * CDN files sealed with integrity, in real Chromium: the page loads its CDN script, module and
 * stylesheet with zero violations; another script on the same CDN cannot run; altered CDN bytes are refused.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory } from '../src/index.js'
import { computedStyle, describeVisit, launchBrowser, visit, type Browser } from './support/browser.js'
import { startCdn } from './support/cdn.js'
import { removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const LIB = "(window.__ran = window.__ran || []).push('cdn:lib')"
const MOD = "(window.__ran = window.__ran || []).push('cdn:module')"
const OLD_LIB = "(window.__ran = window.__ran || []).push('cdn:old-vulnerable-lib')"
const CSS = '#title { color: rgb(7, 8, 9) }'

let browser: Browser
let cdn: Awaited<ReturnType<typeof startCdn>>
let site: StaticServer
let work: string
let strictSite: StaticServer

beforeAll(async () => {
  browser = await launchBrowser()
  cdn = await startCdn({ '/lib.js': LIB, '/mod.js': MOD, '/theme.css': CSS, '/old-lib.js': OLD_LIB })
  work = await mkdtemp(join(tmpdir(), 'csp-seal-cdn-'))
  const dir = join(work, 'site')
  await mkdir(dir)
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>CDN</title>
<link rel="stylesheet" href="${cdn.origin}/theme.css">
<link rel="modulepreload" href="${cdn.origin}/mod.js">
<script src="${cdn.origin}/lib.js"></script>
<script type="module" src="${cdn.origin}/mod.js"></script>
<script>(window.__ran = window.__ran || []).push('page:inline')</script>
</head><body><h1 id="title">CDN page</h1></body></html>`
  await writeFile(join(dir, 'index.html'), html)
  await sealDirectory(dir, {}, { cwd: work })
  // The same page under a 'strict-dynamic' policy: host sources are ignored, the integrity hashes carry the CDN files.
  const strict = join(work, 'strict')
  await mkdir(strict)
  await writeFile(join(strict, 'index.html'), html)
  // Google's strict CSP shape: 'unsafe-inline' and https: are fallbacks for old browsers, ignored next to 'strict-dynamic'.
  await sealDirectory(strict, { policy: `default-src 'self'; script-src 'strict-dynamic' 'unsafe-inline' https:; style-src 'self' ${cdn.origin}; object-src 'none'; base-uri 'none'` }, { cwd: work })
  strictSite = await startStaticServer(strict)
  // The attacker's markup is injected into the page after sealing; the sealed page itself is untouched otherwise.
  site = await startStaticServer(dir, {
    rewrite: (path, bytes) => (path === '/attacked.html' ? bytes.toString().replace('</body>', `<script src="${cdn.origin}/old-lib.js"></script></body>`) : bytes),
  })
  await writeFile(join(dir, 'attacked.html'), await (await fetch(`${site.origin}/index.html`)).text())
})
afterAll(async () => {
  await site?.close()
  await strictSite?.close()
  await cdn?.close()
  await browser?.close()
  await removeDir(work)
})

describe('CDN files in Chromium', () => {
  it('the sealed page loads its CDN script, module and stylesheet with zero violations', async () => {
    const v = await visit(browser, `${site.origin}/index.html`)
    try {
      expect([...v.ran].sort(), describeVisit(v)).toEqual(['cdn:lib', 'cdn:module', 'page:inline'])
      expect(await computedStyle(v.page, '#title', 'color')).toBe('rgb(7, 8, 9)')
      expect(v.violations, describeVisit(v)).toEqual([])
      expect(v.cspConsoleErrors, describeVisit(v)).toEqual([])
      expect(v.integrityErrors, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })

  it("under 'strict-dynamic', the integrity hashes are what let the CDN files load", async () => {
    const v = await visit(browser, `${strictSite.origin}/index.html`)
    try {
      expect([...v.ran].sort(), describeVisit(v)).toEqual(['cdn:lib', 'cdn:module', 'page:inline'])
      expect(v.violations, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })

  it('another script from the same CDN origin is blocked', async () => {
    const v = await visit(browser, `${site.origin}/attacked.html`)
    try {
      expect(v.ran, describeVisit(v)).not.toContain('cdn:old-vulnerable-lib')
      expect(v.ran).toContain('cdn:lib')
      expect(v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`)).toEqual([`script-src-elem ${cdn.origin}/old-lib.js`])
    } finally {
      await v.close()
    }
  })

  it('when the CDN serves altered bytes, the browser refuses the script, the module and the stylesheet', async () => {
    cdn.routes['/lib.js'] = `${LIB};(window.__ran.push('cdn:tampered'))`
    cdn.routes['/mod.js'] = `${MOD};(window.__ran.push('cdn:tampered-module'))`
    cdn.routes['/theme.css'] = '#title { color: rgb(255, 0, 0) }'
    try {
      const v = await visit(browser, `${site.origin}/index.html`)
      try {
        expect(v.ran, describeVisit(v)).toEqual(['page:inline'])
        expect(await computedStyle(v.page, '#title', 'color')).not.toBe('rgb(255, 0, 0)')
        const refused = v.integrityErrors.join('\n')
        for (const file of ['lib.js', 'mod.js', 'theme.css']) expect(refused, describeVisit(v)).toContain(`${cdn.origin}/${file}`)
      } finally {
        await v.close()
      }
    } finally {
      Object.assign(cdn.routes, { '/lib.js': LIB, '/mod.js': MOD, '/theme.css': CSS })
    }
  })
})
