/**
 * csp-seal/webpack on real Rspack builds of fixtures/webpack-app (built-in rspack.HtmlRspackPlugin), loaded in
 * real Chromium.
 *
 * - production, nonce: true, rspack.SubresourceIntegrityPlugin, style-loader: served by csp-seal/server: zero
 *   violations, the lazy chunk and every style-loader style work, a tampered lazy chunk is refused, injected
 *   payloads are blocked.
 * - development, CSS as files (rspack.CssExtractRspackPlugin), default policy: static hosting, zero violations,
 *   injected payloads blocked.
 * - production, output.publicPath '/app/': the site served under /app/ by csp-seal/server (the manifest's base).
 * - production, a 'strict-dynamic' policy (no 'self' for scripts): the page's scripts pass by hash (inline) and by
 *   their integrity hash (files, CDN), the lazy chunk by trust from the runtime that inserts it.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { describeVisit, visit } from '../../test/support/browser.js'
import { startStaticServer } from '../../test/support/static-server.js'
import {
  checkPage,
  checkPayloads,
  injectPayloads,
  startNonceServer,
  waitForRan,
  withServer,
  type BuildResult,
  useBuildHarness,
} from '../../test/support/webpack-app.js'

const PAGES = ['index.html', 'about/index.html', 'static/plain.html']
const RUNTIME_WARNINGS = /\((style-loader|lazy-chunk-integrity|lazy-chunks-blocked|cross-origin-loading)\)/

describe('csp-seal/webpack on Rspack, in Chromium', () => {
  const { harness, buildApp } = useBuildHarness('rspack')

  describe('production, nonce: true, rspack.SubresourceIntegrityPlugin, style-loader', () => {
    let out: string
    let result: BuildResult

    beforeAll(async () => {
      ;({ out, result } = await buildApp('nonce', { mode: 'production', sri: true, staticPage: true, seal: { nonce: true } }))
    })

    it('builds without errors; no runtime warning', async () => {
      expect(result.errors).toEqual([])
      expect(result.warnings.filter((w) => RUNTIME_WARNINGS.test(w))).toEqual([])
      const manifest = JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8'))
      expect(Object.keys(manifest.pages).sort()).toEqual([...PAGES].sort())
      const html = await readFile(join(out, 'index.html'), 'utf8')
      // Rspack's SRI plugin put integrity on the entry tag; csp-seal checked it against the final bytes.
      expect(html).toMatch(/<script [^>]*integrity="sha384-[^"]+" src="main\.[0-9a-f]+\.js">/)
      expect(html).toMatch(/<script src="http:\/\/127\.0\.0\.1:\d+\/cdn\.js" integrity="sha384-[^"]+" crossorigin="anonymous">/)
    })

    for (const file of PAGES) {
      it(`${file}, served by csp-seal/server with a nonce: everything works, zero violations`, async () => {
        await withServer(startNonceServer(out), async (server) => {
          await checkPage(expect, harness.browser, server.origin, file)
          expect(server.logged).toEqual([])
        })
      })
    }

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
  })

  describe('development, CSS files (CssExtractRspackPlugin), default policy', () => {
    let out: string
    let result: BuildResult

    beforeAll(async () => {
      ;({ out, result } = await buildApp('dev-css', { mode: 'development', styles: 'files', staticPage: true }))
    })

    it('builds without errors; warns that the lazy chunk has no integrity', () => {
      expect(result.errors).toEqual([])
      expect(result.warnings.join('\n')).not.toContain('(style-loader)')
      expect(result.warnings.filter((w) => w.includes('(lazy-chunk-integrity)'))).toHaveLength(1)
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

  describe("production, 'strict-dynamic' policy, CSS files", () => {
    let out: string
    let result: BuildResult
    const policy = "default-src 'self'; script-src 'strict-dynamic'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'"

    beforeAll(async () => {
      ;({ out, result } = await buildApp('strict-dynamic', { mode: 'production', styles: 'files', staticPage: true, seal: { policy } }))
    })

    it('builds without errors; the page scripts are allowed by their integrity hashes', async () => {
      expect(result.errors).toEqual([])
      expect(result.warnings.join('\n')).not.toContain('(lazy-chunks-blocked)')
      const html = await readFile(join(out, 'index.html'), 'utf8')
      const main =
        /<script [^>]*integrity="(sha384-[^"]+)"[^>]*src="main\.[0-9a-f]+\.js"/.exec(html) ??
        /<script [^>]*src="main\.[0-9a-f]+\.js"[^>]*integrity="(sha384-[^"]+)"/.exec(html)
      expect(main, html).toBeTruthy()
      expect(html).toContain(`'${main![1]}'`)
    })

    for (const file of PAGES) {
      it(`${file}, static hosting: everything works, zero violations`, async () => {
        await withServer(startStaticServer(out), (server) => checkPage(expect, harness.browser, server.origin, file))
      })
    }

    it("injected handlers and styles are blocked; scripts that a script inserts run: the 'strict-dynamic' model", async () => {
      await withServer(startStaticServer(out), async (server) => {
        const v = await visit(harness.browser, `${server.origin}/`)
        try {
          await waitForRan(v.page, 'lazy')
          await injectPayloads(v.page, harness.foreign.origin, harness.cdn.origin)
          await v.collect()
          const info = describeVisit(v)
          expect(v.ran, info).not.toContain('evil-handler')
          expect(
            v.violations.map((x) => x.effectiveDirective),
            info,
          ).toEqual(expect.arrayContaining(['script-src-attr', 'style-src-elem']))
          // 'strict-dynamic' trusts every script that a running script inserts, from any origin and (in Chromium)
          // inline ones too. That is what lets lazy chunks in without 'self'; it is the policy's model, and why the
          // default policy uses 'self' instead.
          expect(v.ran, info).toEqual(expect.arrayContaining(['evil-inline', 'evil-foreign']))
        } finally {
          await v.close()
        }
      })
    })
  })

  describe("production, output.publicPath '/app/' (the base), served under /app/", () => {
    let out: string
    let result: BuildResult

    beforeAll(async () => {
      ;({ out, result } = await buildApp('public-path', { mode: 'production', publicPath: '/app/', sri: true, staticPage: true, seal: { nonce: true } }))
    })

    it('builds without errors; the manifest base is /app/', async () => {
      expect(result.errors).toEqual([])
      expect(JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8')).base).toBe('/app/')
    })

    for (const file of PAGES) {
      it(`/app/${file}: everything works, zero violations`, async () => {
        await withServer(startNonceServer(out), (server) => checkPage(expect, harness.browser, `${server.origin}/app`, file))
      })
    }
  })
})
