/**
 * @vitejs/plugin-legacy (installed, and it builds offline; its v8 needs Vite 8) under a sealed policy, in
 * Chromium. csp-seal hashes every inline script it injects (modern-browser detection, the dynamic fallback,
 * the Safari 10.1 nomodule fix, SystemJS start-up) and pins its polyfill chunk; what a strict policy still
 * blocks is its modern chunks' `import 'data:text/javascript,…'` feature check, which the build warns about.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import legacy from '@vitejs/plugin-legacy'
import { describe, expect, it } from 'vitest'
import type { CspSealConfig } from '../../src/config.js'
import { describeVisit, visit } from '../../test/support/browser.js'
import { expectWorking, metaPolicy, recordingLogger, SPA, SPA_PAGE, waitForRan, useViteHarness } from '../../test/support/vite.js'
import { startStaticServer } from '../../test/support/static-server.js'
import { cspSeal } from './index.js'

const { harness, work } = useViteHarness('legacy')

async function buildLegacy(name: string, seal: CspSealConfig) {
  const { build } = await import('vite')
  const out = join(work, name)
  const log = recordingLogger()
  await build({
    root: SPA,
    configFile: false,
    customLogger: log.logger,
    logLevel: 'warn',
    cacheDir: join(work, 'vite-cache'),
    define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify(harness.cdn.origin) },
    build: { outDir: out, emptyOutDir: true },
    plugins: [
      legacy({ targets: ['defaults'] }),
      cspSeal({ ...seal, remote: { lockFile: join(work, `${name}.lock.json`), cacheDir: join(work, 'remote-cache') } }),
    ],
  })
  return { out, log, html: await readFile(join(out, 'index.html'), 'utf8') }
}

const isModern = (v: { page: { evaluate: (f: () => unknown) => Promise<unknown> } }) =>
  v.page.evaluate(() => (window as unknown as { __vite_is_modern_browser?: boolean }).__vite_is_modern_browser === true)

describe('Vite 8 + @vitejs/plugin-legacy', () => {
  it('default policy: its inline scripts are hashed and run; the data: feature check is blocked, as the build warns', async () => {
    const app = await buildLegacy('default', {})
    expect(app.html).toMatch(/<script nomodule crossorigin id="vite-legacy-polyfill" src="\/assets\/polyfills-legacy-[^"]+\.js" integrity="sha384-/)
    expect(app.log.warnings.some((w) => w.includes("@vitejs/plugin-legacy's modern chunks import a data: URL"))).toBe(true)
    const site = await startStaticServer(app.out)
    const v = await visit(harness.browser, `${site.origin}/`)
    try {
      await waitForRan(v, SPA_PAGE.ran)
      const info = describeVisit(v)
      // No inline script of plugin-legacy is blocked: only the data: imports of its modern-harness.browser check…
      expect(
        v.violations.filter((x) => x.effectiveDirective === 'script-src-elem' && x.blockedURI === 'inline'),
        info,
      ).toEqual([])
      expect(
        v.violations.some((x) => x.effectiveDirective === 'script-src-elem' && x.blockedURI === 'data'),
        info,
      ).toBe(true)
      // …so Chromium is taken for a legacy harness.browser and the app falls back to the SystemJS chunks, whose
      // CSS arrives as <style> elements the policy blocks.
      expect(await isModern(v), info).toBe(false)
      expect(
        v.violations.every((x) => x.blockedURI === 'data' || (x.effectiveDirective === 'style-src-elem' && /-legacy-/.test(x.sourceFile))),
        info,
      ).toBe(true)
      expect([...v.ran].sort(), info).toEqual([...SPA_PAGE.ran].sort())
    } finally {
      await v.close()
      await site.close()
    }
  })

  it('with data: in script-src (the documented, weaker way out): the modern build runs with zero violations', async () => {
    const app = await buildLegacy('data', { policy: "default-src 'self'; script-src 'self' data:; img-src 'self' data:; object-src 'none'; base-uri 'self'" })
    expect(app.log.warnings.some((w) => w.includes('@vitejs/plugin-legacy'))).toBe(false)
    expect(metaPolicy(app.html)).toContain("script-src 'self' data:")
    const site = await startStaticServer(app.out)
    const v = await visit(harness.browser, `${site.origin}/`)
    try {
      await expectWorking(v, SPA_PAGE)
      expect(await isModern(v), describeVisit(v)).toBe(true)
      // Not one legacy chunk or polyfill was fetched.
      const fetched = await v.page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name))
      expect(
        fetched.some((url) => url.includes('/assets/index-')),
        fetched.join('\n'),
      ).toBe(true)
      expect(fetched.filter((url) => url.includes('-legacy-'))).toEqual([])
    } finally {
      await v.close()
      await site.close()
    }
  })
})
