/**
 * `vite build` with csp-seal, for Vite 8 (Rolldown) and Vite 7 (Rollup): the fixtures are built by the real
 * Vite API, then loaded in real Chromium from a plain static server and through `vite preview`. Every script
 * runs, every style applies, nothing is blocked; what an attacker would inject is blocked.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CspSealConfig } from '../../src/config.js'
import type { Manifest } from '../../src/output/manifest.js'
import { describeVisit, visit, type Visit } from '../../test/support/browser.js'
import { startStaticServer, type StaticServer } from '../../test/support/static-server.js'
import {
  expectInjectionsBlocked,
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
  type PageExpectation,
  type Recorded,
  type ViteApi,
  useViteHarness,
} from '../../test/support/vite.js'
import { cspSeal } from './index.js'

const { harness, work } = useViteHarness('build')

/** csp-seal options for a test: the remote lock file and cache go to the temp folder, never into the fixture. */
function options(name: string, extra: CspSealConfig = {}): CspSealConfig {
  return { ...extra, remote: { lockFile: join(work, `${name}.lock.json`), cacheDir: join(work, 'remote-cache'), ...extra.remote } }
}

interface Built {
  out: string
  log: Recorded
  manifest: Manifest
  html: (page: string) => Promise<string>
}

async function buildApp(api: ViteApi, name: string, root: string, seal: CspSealConfig, config: Record<string, unknown> = {}): Promise<Built> {
  const { build: buildOptions, ...rest } = config as { build?: Record<string, unknown>; base?: string }
  const out = join(work, name, rest.base?.replace(/^\/|\/$/g, '') ?? '')
  const log = recordingLogger()
  await api.build({
    root,
    configFile: false,
    customLogger: log.logger,
    logLevel: 'warn',
    cacheDir: join(work, `${name}-vite-cache`),
    define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify(harness.cdn.origin) },
    ...rest,
    build: { outDir: out, emptyOutDir: true, ...buildOptions },
    plugins: [cspSeal(seal)],
  })
  const manifest = JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8')) as Manifest
  return { out, log, manifest, html: (page) => readFile(join(out, page), 'utf8') }
}

/** `vite preview` of a build, with csp-seal in its plugins (as in the user's vite.config). */
async function startPreview(api: ViteApi, root: string, outDir: string, seal: CspSealConfig, base = '/') {
  const port = await freePort()
  const log = recordingLogger()
  const server = await api.preview({
    root,
    base,
    configFile: false,
    customLogger: log.logger,
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port, strictPort: true },
    plugins: [cspSeal(seal)],
  })
  return { origin: `http://127.0.0.1:${port}`, log, close: () => server.close() }
}

async function expectPage(origin: string, page: PageExpectation, injectFrom?: string, also?: (v: Visit) => Promise<void>) {
  const v = await visit(harness.browser, `${origin}/${page.path}`)
  try {
    await expectWorking(v, page)
    await also?.(v)
    if (injectFrom) await expectInjectionsBlocked(v, injectFrom)
    return v.response?.headers() ?? {}
  } finally {
    await v.close()
  }
}

for (const vite of VITES) {
  describe(`${vite.name}: single-page app`, () => {
    let api: ViteApi
    let app: Built
    let site: StaticServer
    const seal = options(`spa-${vite.major}`)

    beforeAll(async () => {
      api = await vite.load()
      app = await buildApp(api, `spa-${vite.major}`, SPA, seal)
      site = await startStaticServer(app.out)
    })
    afterAll(async () => {
      await site?.close()
    })

    it('writes csp-seal.json naming the page, and seals the HTML Vite emitted', async () => {
      expect(Object.keys(app.manifest.pages)).toEqual(['index.html'])
      const html = await app.html('index.html')
      const policy = metaPolicy(html)
      expect(app.manifest.pages['index.html']!.policy).toContain(policy.split('; ')[0]!)
      // The entry chunk and the CSS Vite injected carry the integrity of their final bytes.
      for (const tag of html.match(/<(?:script type="module"|link rel="stylesheet")[^>]*>/g) ?? []) {
        const url = /(?:src|href)="\/([^"]+)"/.exec(tag)![1]!
        const bytes = await readFile(join(app.out, url))
        const { integrityOf } = await import('../../src/sri/integrity.js')
        expect(tag).toContain(`integrity="${integrityOf(bytes)}"`)
      }
      // The CDN script is pinned and allowed by its own hash, not by the CDN's origin.
      expect(html).toMatch(new RegExp(`<script src="${harness.cdn.origin}/cdn.js" integrity="sha384-[^"]+" crossorigin="anonymous">`))
      expect(policy).not.toContain(harness.cdn.origin)
      expect(app.log.lines.some((l) => /csp-seal.*sealed 1 page/.test(l))).toBe(true)
      // The default policy's frame-ancestors cannot live in a meta tag; it is for header files, not a warning.
      expect(app.log.warnings.some((w) => w.includes('frame-ancestors cannot be set by a meta tag'))).toBe(false)
    })

    it('works in Chromium from a static server: lazy chunks, preloads, CSS, import map, CDN; zero violations', async () => {
      await expectPage(site.origin, SPA_PAGE, `${harness.cdn.origin}/evil.js`, async (v) => {
        // Vite's preload helper ran under the policy: it added these tags for the lazy chunks.
        const added = await v.page.evaluate(() =>
          Array.from(document.querySelectorAll('link:not([integrity])')).map(
            (l) => `${l.getAttribute('rel')} ${new URL((l as HTMLLinkElement).href).pathname}`,
          ),
        )
        expect(added).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/^modulepreload \/assets\/dep-.*\.js$/),
            expect.stringMatching(/^stylesheet \/assets\/lazy-.*\.css$/),
            expect.stringMatching(/^stylesheet \/assets\/dep-.*\.css$/),
          ]),
        )
      })
    })

    it('blocks scripts and handlers injected into the HTML itself', async () => {
      const injected = await startStaticServer(app.out, {
        rewrite: (path, bytes) =>
          path === '/index.html'
            ? bytes
                .toString('utf8')
                .replace('</body>', `<script>window.__ran.push('evil:stored')</script><img src="data:," onload="window.__ran.push('evil:onload')"></body>`)
            : bytes,
      })
      const v = await visit(harness.browser, `${injected.origin}/`)
      try {
        await v.page.waitForTimeout(200)
        await v.collect()
        const info = describeVisit(v)
        expect(
          v.ran.filter((id) => id.startsWith('evil:')),
          info,
        ).toEqual([])
        expect(v.ran, info).toContain('spa:lazy')
        expect(v.violations.map((x) => x.effectiveDirective).sort(), info).toEqual(['script-src-attr', 'script-src-elem'])
      } finally {
        await v.close()
        await injected.close()
      }
    })

    it('vite preview serves it through the runtime with the manifest headers; zero violations', async () => {
      const preview = await startPreview(api, SPA, app.out, seal)
      try {
        const headers = await expectPage(preview.origin, SPA_PAGE, `${harness.cdn.origin}/evil.js`)
        const page = app.manifest.pages['index.html']!
        expect(headers['content-security-policy']).toBe(page.headers['Content-Security-Policy'])
        // The header carries what the meta tag cannot.
        expect(headers['content-security-policy']).toContain("frame-ancestors 'self'")
        // An SPA route that is not a file gets index.html, with its headers too.
        const route = await fetch(`${preview.origin}/some/client/route`, { headers: { accept: 'text/html' } })
        expect(route.status).toBe(200)
        expect(route.headers.get('content-security-policy')).toBe(page.headers['Content-Security-Policy'])
      } finally {
        await preview.close()
      }
    })

    it('vite preview with nonce: true mints a fresh nonce per response; a replayed nonce is blocked', async () => {
      const preview = await startPreview(api, SPA, app.out, { ...seal, nonce: true })
      const nonces: string[] = []
      try {
        for (let i = 0; i < 2; i++) {
          const v = await visit(harness.browser, `${preview.origin}/`)
          try {
            await expectWorking(v, SPA_PAGE)
            const header = v.response?.headers()['content-security-policy'] ?? ''
            const nonce = /'nonce-([^']+)'/.exec(header)?.[1]
            expect(nonce, header).toBeDefined()
            // The runtime's meta is what Vite's preload helper reads for the <link> tags it adds.
            expect(await v.page.evaluate(() => (document.querySelector('meta[property=csp-nonce]') as HTMLMetaElement | null)?.nonce)).toBe(nonce)
            if (i === 1) await expectInjectionsBlocked(v, `${harness.cdn.origin}/evil.js`, { nonce: nonces[0] })
            nonces.push(nonce!)
          } finally {
            await v.close()
          }
        }
        expect(nonces[0]).not.toBe(nonces[1])
      } finally {
        await preview.close()
      }
    })

    it('vite preview of a build that was not sealed says so once and serves it as it is', async () => {
      const plain = join(work, `unsealed-${vite.major}`)
      await api.build({
        root: SPA,
        configFile: false,
        logLevel: 'silent',
        cacheDir: join(work, 'unsealed-cache'),
        define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify(harness.cdn.origin) },
        build: { outDir: plain, emptyOutDir: true },
      })
      const preview = await startPreview(api, SPA, plain, seal)
      try {
        for (let i = 0; i < 2; i++) {
          const response = await fetch(`${preview.origin}/`, { headers: { accept: 'text/html' } })
          expect(response.status).toBe(200)
          expect(response.headers.get('content-security-policy')).toBeNull()
        }
        expect(preview.log.warnings.filter((w) => w.includes('csp-seal.json does not exist: run vite build with csp-seal first'))).toHaveLength(1)
      } finally {
        await preview.close()
      }
    })

    it('html.cspNonce users: warned that the fixed value is public; the sealed page does not rely on it', async () => {
      const placeholder = await buildApp(api, `spa-csp-nonce-${vite.major}`, SPA, options(`spa-csp-nonce-${vite.major}`), {
        html: { cspNonce: 'VITE_NONCE_PLACEHOLDER' },
      })
      const html = await placeholder.html('index.html')
      expect(html).toContain('nonce="VITE_NONCE_PLACEHOLDER"')
      expect(metaPolicy(html)).not.toContain('VITE_NONCE_PLACEHOLDER')
      expect(placeholder.log.warnings.some((w) => w.includes('html.cspNonce writes the fixed nonce "VITE_NONCE_PLACEHOLDER"'))).toBe(true)
      const served = await startStaticServer(placeholder.out)
      try {
        await expectPage(served.origin, SPA_PAGE)
      } finally {
        await served.close()
      }
    })
  })

  describe(`${vite.name}: multi-page app, minified by terser`, () => {
    let api: ViteApi
    let app: Built
    let site: StaticServer
    const seal = options(`mpa-${vite.major}`)

    beforeAll(async () => {
      api = await vite.load()
      app = await buildApp(api, `mpa-${vite.major}`, MPA, seal, { build: { ...mpaInput(vite.major), minify: 'terser' } })
      site = await startStaticServer(app.out)
    })
    afterAll(async () => {
      await site?.close()
    })

    it('gives each page its own policy and names both in csp-seal.json', async () => {
      expect(Object.keys(app.manifest.pages).sort()).toEqual(['about/index.html', 'index.html'])
      const home = app.manifest.pages['index.html']!
      const about = app.manifest.pages['about/index.html']!
      expect(home.scriptHashes).toHaveLength(1)
      expect(about.scriptHashes).toHaveLength(1)
      expect(home.scriptHashes[0]).not.toBe(about.scriptHashes[0])
      const homePolicy = metaPolicy(await app.html('index.html'))
      const aboutPolicy = metaPolicy(await app.html('about/index.html'))
      expect(homePolicy).toContain(home.scriptHashes[0])
      expect(homePolicy).not.toContain(about.scriptHashes[0])
      expect(aboutPolicy).toContain(about.scriptHashes[0])
      expect(aboutPolicy).not.toContain(home.scriptHashes[0])
      // Only the about page has a style attribute, so only it allows one.
      expect(aboutPolicy).toContain("style-src-attr 'unsafe-hashes'")
      expect(homePolicy).not.toContain('style-src-attr')
      // Vite's <link rel=modulepreload> for the shared chunk carries integrity too.
      expect(await app.html('about/index.html')).toMatch(/<link rel="modulepreload" crossorigin href="\/assets\/shared-[^"]+\.js" integrity="sha384-[^"]+">/)
    })

    for (const page of MPA_PAGES) {
      it(`${page.path || '/'} works in Chromium from a static server and through vite preview`, async () => {
        await expectPage(site.origin, page, `${harness.cdn.origin}/evil.js`)
        const preview = await startPreview(api, MPA, app.out, seal)
        try {
          const headers = await expectPage(preview.origin, page)
          expect(headers['content-security-policy']).toBe(app.manifest.pages[`${page.path}index.html`]!.headers['Content-Security-Policy'])
        } finally {
          await preview.close()
        }
      })
    }
  })

  describe(`${vite.name}: relative base './'`, () => {
    it('multi-page app served from a sub-folder of a static server', async () => {
      const api = await vite.load()
      const app = await buildApp(api, `relative-${vite.major}`, MPA, options(`relative-${vite.major}`), { base: './', build: mpaInput(vite.major) })
      expect(await app.html('about/index.html')).toMatch(/<script type="module" crossorigin src="\.\.\/assets\/about-[^"]+\.js" integrity="sha384-/)
      const site = await startStaticServer(join(app.out, '..'))
      try {
        for (const page of MPA_PAGES) await expectPage(`${site.origin}/${app.out.split('/').pop()}`, page)
      } finally {
        await site.close()
      }
    })
  })

  describe(`${vite.name}: base is a full URL (the files on a second origin)`, () => {
    it('pins the built files by integrity, allows that origin for run-time chunks, and works in Chromium', async () => {
      const api = await vite.load()
      const root = join(work, `absolute-${vite.major}`)
      await mkdir(join(root, 'app'), { recursive: true })
      // The "static files" origin (with CORS, as Vite adds crossorigin) and the pages' own origin.
      const files = await startStaticServer(root, { cors: true })
      const log = recordingLogger()
      try {
        await api.build({
          root: SPA,
          configFile: false,
          customLogger: log.logger,
          logLevel: 'warn',
          cacheDir: join(work, `absolute-${vite.major}-cache`),
          base: `${files.origin}/app/`,
          define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify(harness.cdn.origin) },
          build: { outDir: join(root, 'app'), emptyOutDir: true },
          plugins: [cspSeal(options(`absolute-${vite.major}`))],
        })
        const html = await readFile(join(root, 'app/index.html'), 'utf8')
        expect(html).toMatch(new RegExp(`<script type="module" crossorigin src="${files.origin}/app/assets/index-[^"]+\\.js" integrity="sha384-`))
        expect(metaPolicy(html)).toMatch(new RegExp(`script-src 'self' [^;]*${files.origin}`))
        const pages = await startStaticServer(join(root, 'app'))
        try {
          await expectPage(pages.origin, SPA_PAGE, `${harness.cdn.origin}/evil.js`)
        } finally {
          await pages.close()
        }
      } finally {
        await files.close()
      }
    })
  })

  describe(`${vite.name}: base /app/, one CSS file (no CSS code splitting), sourcemaps`, () => {
    let api: ViteApi
    let app: Built
    const seal = options(`base-${vite.major}`)

    beforeAll(async () => {
      api = await vite.load()
      app = await buildApp(api, `base-${vite.major}`, SPA, seal, { base: '/app/', build: { cssCodeSplit: false, sourcemap: true } })
    })

    it('resolves /app/ URLs to the built files and records the base', async () => {
      expect(app.manifest.base).toBe('/app/')
      const html = await app.html('index.html')
      expect(html).toMatch(/<script type="module" crossorigin src="\/app\/assets\/index-[^"]+\.js" integrity="sha384-/)
      expect(html).toMatch(/<link rel="stylesheet" crossorigin href="\/app\/assets\/[^"]+\.css" integrity="sha384-/)
      // No CSS code splitting: one stylesheet, and the lazy chunks load no CSS of their own.
      expect(html.match(/rel="stylesheet"/g)).toHaveLength(1)
    })

    it('works in Chromium under /app/ from a static server and through vite preview', async () => {
      // The static server serves the folder above the build, so the site lives at /app/.
      const site = await startStaticServer(join(app.out, '..'))
      try {
        await expectPage(`${site.origin}/app`, SPA_PAGE, `${harness.cdn.origin}/evil.js`)
      } finally {
        await site.close()
      }
      const preview = await startPreview(api, SPA, app.out, seal, '/app/')
      try {
        const headers = await expectPage(`${preview.origin}/app`, SPA_PAGE)
        expect(headers['content-security-policy']).toBe(app.manifest.pages['index.html']!.headers['Content-Security-Policy'])
      } finally {
        await preview.close()
      }
    })
  })
}
