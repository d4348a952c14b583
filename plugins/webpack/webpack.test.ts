/**
 * csp-seal/webpack on real webpack 5 builds of fixtures/webpack-app, loaded in real Chromium.
 *
 * - production, nonce: true, webpack-subresource-integrity: served by csp-seal/server (a fresh nonce per
 *   response): zero violations, the lazy chunk and every style-loader style work, a tampered lazy chunk is refused,
 *   injected payloads are blocked. Served as static files (hash-only), only style-loader's <style> tags are
 *   blocked, as the plugin warns and documents.
 * - production, no nonce, 'unsafe-inline' kept in style-src-elem only: static hosting, zero violations.
 * - development, CSS as files (experiments.css; the lazy chunk's stylesheet is a <link> the runtime inserts):
 *   static hosting, zero violations, injected styles blocked.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { computedStyle, describeVisit, visit } from '../../test/support/browser.js'
import { startStaticServer } from '../../test/support/static-server.js'
import { checkPage, checkPayloads, startNonceServer, waitForRan, withServer, type BuildResult, useBuildHarness } from '../../test/support/webpack-app.js'

const PAGES = ['index.html', 'about/index.html', 'static/plain.html']
const RUNTIME_WARNINGS = /\((style-loader|lazy-chunk-integrity|lazy-chunks-blocked|cross-origin-loading)\)/

describe('csp-seal/webpack on webpack 5, in Chromium', () => {
  const { harness, buildApp } = useBuildHarness('webpack')

  describe('production, nonce: true, webpack-subresource-integrity', () => {
    let out: string
    let result: BuildResult

    beforeAll(async () => {
      ;({ out, result } = await buildApp('nonce', { mode: 'production', sri: true, staticPage: true, seal: { nonce: true } }))
    })

    it('builds without errors; no runtime warning (the nonce covers style-loader, the SRI plugin the lazy chunk)', async () => {
      expect(result.errors).toEqual([])
      expect(result.warnings.filter((w) => RUNTIME_WARNINGS.test(w))).toEqual([])
      const manifest = JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8'))
      expect(Object.keys(manifest.pages).sort()).toEqual([...PAGES].sort())
      // The CDN script is pinned (fetched at build time) and allowed by its hash, not by its origin.
      expect(manifest.pages['index.html'].policy).not.toContain(harness.cdn.origin)
      const html = await readFile(join(out, 'index.html'), 'utf8')
      expect(html).toMatch(/<script src=http:\/\/127\.0\.0\.1:\d+\/cdn\.js integrity="sha384-[^"]+" crossorigin="anonymous">/)
      // The bootstrap that hands the nonce to the webpack runtime is bundled in front of the entry.
      const main = (await readdir(out)).find((f) => /^main\..*\.js$/.test(f))!
      expect(await readFile(join(out, main), 'utf8')).toContain('meta[property="csp-nonce"]')
    })

    for (const file of PAGES) {
      it(`${file}, served by csp-seal/server with a nonce: everything works, zero violations`, async () => {
        await withServer(startNonceServer(out), async (server) => {
          await checkPage(expect, harness.browser, server.origin, file)
          expect(server.logged).toEqual([])
        })
      })
    }

    it('every response has its own nonce, in the header and in the csp-nonce meta', async () => {
      await withServer(startNonceServer(out), async (server) => {
        const responses = await Promise.all([1, 2].map(() => fetch(`${server.origin}/`)))
        const nonces = await Promise.all(
          responses.map(async (response) => {
            const header = /'nonce-([^']+)'/.exec(response.headers.get('content-security-policy') ?? '')?.[1]
            const meta = /<meta property="csp-nonce" nonce="([^"]+)">/.exec(await response.text())?.[1]
            expect(header).toBeTruthy()
            expect(meta).toBe(header)
            return header
          }),
        )
        expect(nonces[0]).not.toBe(nonces[1])
      })
    })

    it('injected payloads are blocked: inline script, handler, foreign and unlisted CDN scripts, inline style', async () => {
      await withServer(startNonceServer(out), (server) => checkPayloads(expect, harness.browser, server.origin, harness.foreign.origin, harness.cdn.origin))
    })

    it('a tampered lazy chunk is refused: the runtime loads it with its integrity', async () => {
      const lazy = (await readdir(out)).find((f) => /^lazy\..*\.js$/.test(f))!
      const tamper = (path: string) => (path === `/${lazy}` ? "window.__ran.push('lazy')" : undefined)
      await withServer(startNonceServer(out, tamper), async (server) => {
        const v = await visit(harness.browser, `${server.origin}/`, { waitFor: 500 })
        try {
          const info = describeVisit(v)
          expect(v.ran, info).toContain('main')
          expect(v.ran, info).not.toContain('lazy')
          expect(v.integrityErrors.join('\n'), info).toContain(lazy)
        } finally {
          await v.close()
        }
      })
    })

    it('served as static files (hash-only): scripts and the lazy chunk run; only style-loader <style> tags are blocked', async () => {
      await withServer(startStaticServer(out), async (server) => {
        const v = await visit(harness.browser, `${server.origin}/`)
        try {
          await waitForRan(v.page, 'lazy')
          await v.collect()
          const info = describeVisit(v)
          expect([...v.ran].sort(), info).toEqual(['cdn', 'inline-index', 'lazy', 'main'])
          expect(await computedStyle(v.page, '#inline-styled', 'color')).toBe('rgb(255, 0, 0)')
          // No nonce without the server: the documented fallback. Nothing else is blocked.
          expect(await computedStyle(v.page, '#styled', 'color')).not.toBe('rgb(0, 128, 0)')
          expect(v.violations.length, info).toBeGreaterThan(0)
          expect(
            v.violations.every((x) => x.effectiveDirective === 'style-src-elem' && x.blockedURI === 'inline'),
            info,
          ).toBe(true)
          expect(v.pageErrors, info).toEqual([])
        } finally {
          await v.close()
        }
      })
    })
  })

  describe("production, no nonce, 'unsafe-inline' kept in style-src-elem only", () => {
    let out: string
    let result: BuildResult
    const policy =
      "default-src 'self'; script-src 'self'; style-src 'self'; style-src-elem 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'self'"

    beforeAll(async () => {
      ;({ out, result } = await buildApp('unsafe-inline', { mode: 'production', staticPage: true, seal: { policy } }))
    })

    it('builds without errors; warns about the weak style-src-elem and the lazy chunk without integrity', () => {
      expect(result.errors).toEqual([])
      expect(result.warnings.join('\n')).toContain('(unsafe-inline-kept)')
      expect(result.warnings.filter((w) => w.includes('(lazy-chunk-integrity)'))).toHaveLength(1)
      expect(result.warnings.join('\n')).not.toContain('(style-loader)')
    })

    for (const file of PAGES) {
      it(`${file}, static hosting: everything works, zero violations`, async () => {
        await withServer(startStaticServer(out), (server) => checkPage(expect, harness.browser, server.origin, file))
      })
    }

    it('injected scripts and handlers are blocked (an injected style applies: the price of unsafe-inline)', async () => {
      await withServer(startStaticServer(out), (server) =>
        checkPayloads(expect, harness.browser, server.origin, harness.foreign.origin, harness.cdn.origin, { styles: false }),
      )
    })
  })

  describe('development, CSS files (experiments.css), default policy', () => {
    let out: string
    let result: BuildResult

    beforeAll(async () => {
      ;({ out, result } = await buildApp('dev-css', { mode: 'development', styles: 'files', staticPage: true }))
    })

    it('builds without errors; no style-loader warning for CSS files', () => {
      expect(result.errors).toEqual([])
      expect(result.warnings.join('\n')).not.toContain('(style-loader)')
      expect(result.warnings.join('\n')).toContain('(lazy-chunk-integrity)')
    })

    for (const file of PAGES) {
      it(`${file}, static hosting: everything works, zero violations`, async () => {
        await withServer(startStaticServer(out), (server) => checkPage(expect, harness.browser, server.origin, file))
      })
    }

    it('injected payloads are blocked, inline styles included', async () => {
      await withServer(startStaticServer(out), (server) => checkPayloads(expect, harness.browser, server.origin, harness.foreign.origin, harness.cdn.origin))
    })
  })
})
