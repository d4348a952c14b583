/**
 * `vite dev` with csp-seal, Vite 8 and Vite 7, in real Chromium: the policy comes as a header with a fresh
 * nonce per response, Vite's client and the styles it injects carry that nonce, HMR works under the policy,
 * the one relaxation HMR may need is printed once, and injected code is still blocked.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CspSealConfig } from '../../src/config.js'
import { describeVisit, visit, type Visit } from '../../test/support/browser.js'
import { copyFixture, removeDir } from '../../test/support/sites.js'
import {
  expectInjectionsBlocked,
  expectWorking,
  freePort,
  recordingLogger,
  SPA_PAGE,
  VITES,
  type Recorded,
  type ViteApi,
  useViteHarness,
} from '../../test/support/vite.js'
import { cspSeal } from './index.js'

const { harness } = useViteHarness('dev')

interface Dev {
  origin: string
  root: string
  log: Recorded
  server: ViteDevServer
  close(): Promise<void>
}

/** A dev server on a copy of the SPA fixture (HMR tests edit its files). */
async function startDev(api: ViteApi, seal: CspSealConfig = {}): Promise<Dev> {
  const root = await copyFixture('vite-spa')
  const port = await freePort()
  const log = recordingLogger()
  const server = await api.createServer({
    root,
    configFile: false,
    customLogger: log.logger,
    cacheDir: join(root, '.vite-cache'),
    define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify(harness.cdn.origin) },
    server: { host: '127.0.0.1', port, strictPort: true },
    plugins: [cspSeal(seal)],
  })
  await server.listen()
  return {
    origin: `http://127.0.0.1:${port}`,
    root,
    log,
    server,
    async close() {
      await server.close()
      await removeDir(root)
    },
  }
}

function nonceOf(policy: string | undefined): string | undefined {
  return /'nonce-([^']+)'/.exec(policy ?? '')?.[1]
}

/** Every script, style and stylesheet link in the document carries the response's nonce. */
async function nonceEverywhere(v: Visit): Promise<{ meta: string | undefined; missing: string[] }> {
  return v.page.evaluate(() => {
    const meta = (document.querySelector('meta[property=csp-nonce]') as HTMLMetaElement | null)?.nonce
    const missing = Array.from(document.querySelectorAll('script, style, link[rel=stylesheet], link[rel=modulepreload]'))
      .filter((el) => (el as HTMLElement).nonce !== meta)
      .map((el) => el.outerHTML.slice(0, 80))
    return { meta, missing }
  })
}

async function waitForHmr(v: Visit): Promise<void> {
  for (let waited = 0; waited < 10_000 && !v.consoleMessages.some((m) => m.text.includes('[vite] connected.')); waited += 50) await v.page.waitForTimeout(50)
  await v.collect()
}

for (const vite of VITES) {
  describe(`${vite.name}: vite dev`, () => {
    let api: ViteApi
    let dev: Dev

    beforeAll(async () => {
      api = await vite.load()
      dev = await startDev(api)
    })
    afterAll(async () => {
      await dev?.close()
    })

    it('sends the policy as a header with a fresh nonce per response; everything runs, nothing is blocked', async () => {
      const seen: string[] = []
      for (let i = 0; i < 2; i++) {
        const v = await visit(harness.browser, `${dev.origin}/`)
        try {
          await expectWorking(v, SPA_PAGE)
          const header = v.response?.headers()['content-security-policy']
          const nonce = nonceOf(header)
          expect(nonce, header).toMatch(/^[A-Za-z0-9+/]{22}==$/)
          expect(header).toContain(`script-src 'self' 'nonce-${nonce}'`)
          expect(header).toContain(`style-src 'self' 'nonce-${nonce}'`)
          expect(header).toContain("frame-ancestors 'self'")
          // Vite answers no-cache with an ETag of the body, which holds the nonce: never a stale nonce from a cache.
          expect(v.response?.headers()['cache-control']).toMatch(/^no-(cache|store)$/)
          // Vite's client reads the meta for the <style> tags it injects (CSS imported from JS).
          const { meta, missing } = await nonceEverywhere(v)
          expect(meta).toBe(nonce)
          expect(missing, describeVisit(v)).toEqual([])
          if (i === 1) await expectInjectionsBlocked(v, `${harness.cdn.origin}/evil.js`, { nonce: seen[0] })
          seen.push(nonce!)
        } finally {
          await v.close()
        }
      }
      expect(seen[0]).not.toBe(seen[1])
    })

    it('falls back to a meta tag, once said, when HTML is transformed outside a request (SSR frameworks)', async () => {
      const page =
        '<!doctype html><html><head><meta charset="utf-8"><style>p{color:red}</style></head><body><p style="margin:1px">x</p><script>window.x = 1</script></body></html>'
      const first = await dev.server.transformIndexHtml('/', page)
      const second = await dev.server.transformIndexHtml('/', page)
      const nonce = /<script nonce="([^"]+)">window\.x = 1<\/script>/.exec(first)?.[1]
      expect(nonce, first).toBeDefined()
      expect(first).toContain(`<style nonce="${nonce}">`)
      expect(first).toContain(`<meta property="csp-nonce" nonce="${nonce}">`)
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(first)?.[1] ?? ''
      expect(meta).toContain(`script-src 'self' 'nonce-${nonce}'`)
      expect(meta).toMatch(/style-src-attr 'unsafe-hashes' 'sha256-/)
      // A meta tag cannot carry frame-ancestors.
      expect(meta).not.toContain('frame-ancestors')
      expect(second).not.toContain(nonce)
      expect(dev.log.lines.filter((l) => l.includes('HTML transformed outside a request csp-seal saw'))).toHaveLength(1)
    })

    it('HMR connects and updates CSS under the policy (same-origin websocket: no relaxation needed)', async () => {
      const v = await visit(harness.browser, `${dev.origin}/`)
      const css = join(dev.root, 'src/main.css')
      const original = await readFile(css, 'utf8')
      try {
        await expectWorking(v, SPA_PAGE)
        await waitForHmr(v)
        expect(
          v.consoleMessages.map((m) => m.text),
          describeVisit(v),
        ).toContain('[vite] connected.')
        await writeFile(css, original.replace('rgb(40, 50, 60)', 'rgb(1, 2, 3)'))
        // The file watcher can report a write before it is finished (Vite then serves the truncated file), or,
        // on a loaded machine, miss it; announcing the change once the file is whole makes the update certain.
        dev.server.watcher.emit('change', css)
        const updated = await v.page
          .waitForFunction(() => getComputedStyle(document.querySelector('#main-styled')!).backgroundColor === 'rgb(1, 2, 3)', undefined, { timeout: 0 })
          .then(
            () => true,
            () => false,
          )
        await v.collect()
        expect(updated, `the CSS update did not apply\n${describeVisit(v)}\n${dev.log.lines.join('\n')}`).toBe(true)
        expect(v.violations, describeVisit(v)).toEqual([])
        expect(v.cspConsoleErrors, describeVisit(v)).toEqual([])
        expect(dev.log.lines.filter((l) => l.includes('relaxed for HMR'))).toEqual([])
      } finally {
        await writeFile(css, original)
        await v.close()
      }
    })

    it('relaxes connect-src for the HMR websocket only when the policy blocks it, and says so once', async () => {
      const strict = await startDev(api, { policy: "default-src 'self'; img-src data:; connect-src 'none'; object-src 'none'" })
      try {
        for (let i = 0; i < 2; i++) {
          const v = await visit(harness.browser, `${strict.origin}/`)
          try {
            await expectWorking(v, SPA_PAGE)
            await waitForHmr(v)
            expect(
              v.consoleMessages.map((m) => m.text),
              describeVisit(v),
            ).toContain('[vite] connected.')
            expect(v.violations, describeVisit(v)).toEqual([])
            expect(v.response?.headers()['content-security-policy']).toContain(`connect-src ws://${strict.origin.slice('http://'.length)};`)
          } finally {
            await v.close()
          }
        }
        const said = strict.log.lines.filter((l) => l.includes('relaxed for HMR'))
        expect(said).toHaveLength(1)
        expect(said[0]).toContain(`connect-src += ws://${strict.origin.slice('http://'.length)}`)
      } finally {
        await strict.close()
      }
    })

    it('says on start-up what dev cannot honour, and keeps it where it can', async () => {
      const uir = await startDev(api, { policy: "default-src 'self'; img-src data:; upgrade-insecure-requests" })
      try {
        // Said when the server starts, before any page is served.
        expect(uir.log.warnings.some((w) => w.includes('upgrade-insecure-requests cannot be honoured by a plain-http dev server'))).toBe(true)
        const v = await visit(harness.browser, `${uir.origin}/`)
        try {
          await expectWorking(v, SPA_PAGE)
          // On 127.0.0.1 the harness.browser does not upgrade, so the directive stays.
          expect(v.response?.headers()['content-security-policy']).toContain('upgrade-insecure-requests')
        } finally {
          await v.close()
        }
      } finally {
        await uir.close()
      }
    })
  })
}
