/**
 * How the chunks Vite loads at run time (lazy `import()`, their imports, the `<link rel=modulepreload>` and
 * stylesheet tags of its preload helper) are allowed, measured in Chromium:
 * - by origin (`'self'`, csp-seal's default; build.test.ts): everything works, and a script injected from any
 *   other origin is blocked;
 * - by `'strict-dynamic'` (the hashed entry vouches for what it loads): the chunks work too, but an `import()`
 *   from a parser-inserted inline script is blocked, and any script that code inserts runs, from anywhere;
 * - by hashes alone: works while the page names every chunk it needs (entry and modulepreload tags, by their
 *   integrity hash); lazy chunks make the build fail (verify.test.ts) unless the pages are served with a nonce
 *   (`nonce: true` and csp-seal/server), which the entry passes on to everything it imports.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { describeVisit, visit } from '../../test/support/browser.js'
import { startStaticServer } from '../../test/support/static-server.js'
import {
  expectWorking,
  freePort,
  metaPolicy,
  mpaInput,
  MPA,
  MPA_PAGES,
  recordingLogger,
  SPA,
  SPA_PAGE,
  VITES,
  waitForRan,
  useViteHarness,
} from '../../test/support/vite.js'
import { cspSeal } from './index.js'

const STRICT_DYNAMIC = "script-src 'strict-dynamic'; style-src 'self'; img-src data:; object-src 'none'; base-uri 'none'"
const { harness, work } = useViteHarness('choices')

for (const vite of VITES) {
  describe(`${vite.name}: a 'strict-dynamic' policy`, () => {
    it('multi-page app: entries and modulepreloads allowed by their integrity hash, no origin needed', async () => {
      const api = await vite.load()
      const out = join(work, `mpa-${vite.major}`)
      await api.build({
        root: MPA,
        configFile: false,
        customLogger: recordingLogger().logger,
        logLevel: 'warn',
        cacheDir: join(work, 'vite-cache'),
        build: { outDir: out, emptyOutDir: true, ...mpaInput(vite.major) },
        plugins: [cspSeal({ policy: STRICT_DYNAMIC })],
      })
      const site = await startStaticServer(out)
      try {
        for (const page of MPA_PAGES) {
          const html = await readFile(join(out, page.path, 'index.html'), 'utf8')
          const entry = /<script type="module" crossorigin src="[^"]+" integrity="(sha384-[^"]+)">/.exec(html)![1]
          const scriptSrc = metaPolicy(html)
            .split('; ')
            .find((d) => d.startsWith('script-src '))!
          expect(scriptSrc).toContain(`'strict-dynamic'`)
          expect(scriptSrc).toContain(`'${entry}'`)
          expect(scriptSrc).not.toContain("'self'")
          const v = await visit(harness.browser, `${site.origin}/${page.path}`)
          try {
            await expectWorking(v, page)
          } finally {
            await v.close()
          }
        }
      } finally {
        await site.close()
      }
    })

    it('single-page app: lazy chunks and preloads work; import() from an inline script is blocked; injected scripts run', async () => {
      const api = await vite.load()
      const out = join(work, `spa-${vite.major}`)
      await api.build({
        root: SPA,
        configFile: false,
        customLogger: recordingLogger().logger,
        logLevel: 'warn',
        cacheDir: join(work, 'vite-cache'),
        define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify(harness.cdn.origin) },
        build: { outDir: out, emptyOutDir: true },
        plugins: [cspSeal({ policy: STRICT_DYNAMIC, remote: { lockFile: join(work, `lock-${vite.major}.json`), cacheDir: join(work, 'remote-cache') } })],
      })
      const site = await startStaticServer(out)
      const v = await visit(harness.browser, `${site.origin}/`)
      try {
        const ran = SPA_PAGE.ran.filter((id) => id !== 'spa:importmap')
        await waitForRan(v, ran)
        const info = describeVisit(v)
        // Every chunk Vite loads at run time ran…
        expect([...v.ran].sort(), info).toEqual([...ran].sort())
        // …but 'strict-dynamic' does not extend to import() from a parser-inserted inline script.
        expect(
          v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`),
          info,
        ).toEqual([`script-src-elem ${site.origin}/answer.js`])
        // And it trusts every script that code inserts: one from anywhere (here, the CDN) runs.
        await v.page.evaluate((src) => {
          const script = document.createElement('script')
          script.src = src
          document.body.append(script)
        }, `${harness.cdn.origin}/evil.js`)
        await waitForRan(v, ['evil:cdn'])
        expect(v.ran, describeVisit(v)).toContain('evil:cdn')
      } finally {
        await v.close()
        await site.close()
      }
    })
  })
}

const HASH_ONLY = "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'"

for (const vite of VITES) {
  describe(`${vite.name}: a hash-only policy`, () => {
    it('works when the page names every chunk it needs: the entry and its modulepreload, by integrity hash', async () => {
      const api = await vite.load()
      const out = join(work, `hash-only-${vite.major}`)
      await api.build({
        root: MPA,
        configFile: false,
        customLogger: recordingLogger().logger,
        logLevel: 'warn',
        cacheDir: join(work, 'vite-cache'),
        build: { outDir: out, emptyOutDir: true, ...mpaInput(vite.major) },
        plugins: [cspSeal({ policy: HASH_ONLY })],
      })
      const site = await startStaticServer(out)
      try {
        for (const page of MPA_PAGES) {
          const v = await visit(harness.browser, `${site.origin}/${page.path}`)
          try {
            await expectWorking(v, page)
          } finally {
            await v.close()
          }
        }
      } finally {
        await site.close()
      }
    })

    it('with nonce: true, chunks the page does not name load through the nonce runtime (vite preview), not from the file alone', async () => {
      const api = await vite.load()
      const out = join(work, `nonce-${vite.major}`)
      const seal = { policy: HASH_ONLY, nonce: true }
      const log = recordingLogger()
      // Without modulepreload tags the shared chunk is only reached through the entry's import.
      await api.build({
        root: MPA,
        configFile: false,
        customLogger: log.logger,
        logLevel: 'warn',
        cacheDir: join(work, 'vite-cache'),
        build: { outDir: out, emptyOutDir: true, modulePreload: false, ...mpaInput(vite.major) },
        plugins: [cspSeal(seal)],
      })
      expect(
        log.warnings.filter((w) => /a chunk that Vite loads at run time .*assets\/shared-.* loads only when the page is served with a nonce/.test(w)),
        log.warnings.join('\n'),
      ).toHaveLength(2)
      const site = await startStaticServer(out)
      const port = await freePort()
      const preview = await api.preview({
        root: MPA,
        configFile: false,
        customLogger: recordingLogger().logger,
        logLevel: 'warn',
        build: { outDir: out },
        preview: { host: '127.0.0.1', port, strictPort: true },
        plugins: [cspSeal(seal)],
      })
      try {
        const page = MPA_PAGES[1]!
        const alone = await visit(harness.browser, `${site.origin}/${page.path}`)
        try {
          await alone.page.waitForTimeout(200)
          await alone.collect()
          expect(
            alone.violations.map((x) => x.blockedURI),
            describeVisit(alone),
          ).toEqual([expect.stringMatching(/\/assets\/shared-.*\.js$/)])
        } finally {
          await alone.close()
        }
        for (const page of MPA_PAGES) {
          const v = await visit(harness.browser, `http://127.0.0.1:${port}/${page.path}`)
          try {
            await expectWorking(v, page)
            const header = v.response?.headers()['content-security-policy'] ?? ''
            // No origin: the inline script by hash, the entry by its integrity hash, its import by the nonce.
            expect(header.split('; ').find((d) => d.startsWith('script-src '))).toMatch(/^script-src 'sha256-[^']+' 'sha384-[^']+' 'nonce-[^']+'$/)
          } finally {
            await v.close()
          }
        }
      } finally {
        await preview.close()
        await site.close()
      }
    })
  })
}
