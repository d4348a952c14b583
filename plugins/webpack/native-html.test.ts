/**
 * webpack's own HTML output (webpack ≥ 5.109: an entry with `html: true`, `output.html.integrity` / `output.html.csp`),
 * sealed by csp-seal/webpack in real webpack builds and loaded in real Chromium: csp-seal seals after webpack has
 * filled in its integrity values (and checks them against the final bytes), the page and its lazy chunk run with
 * zero violations, an injected inline script stays blocked. Also: a build without a page warns that it sealed
 * nothing, and a Docusaurus-shaped build (its aliases) fails naming csp-seal/docusaurus.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import webpack, { type Configuration } from 'webpack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeVisit, launchBrowser, visit, type Browser } from '../../test/support/browser.js'
import { removeDir } from '../../test/support/sites.js'
import { startStaticServer } from '../../test/support/static-server.js'
import { buildWebpack, tempDir, waitForRan } from '../../test/support/webpack-app.js'
import { CspSealPlugin } from './index.js'

let work: string
let browser: Browser
beforeAll(async () => {
  work = await tempDir('native-html')
  await mkdir(join(work, 'src'))
  await writeFile(join(work, 'src', 'index.js'), "window.__ran = (window.__ran || []).concat('main')\nimport('./lazy.js').then((m) => m.run())\n")
  await writeFile(join(work, 'src', 'lazy.js'), "export function run() { window.__ran.push('lazy') }\n")
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
  await removeDir(work)
})

function config(name: string, extra: Configuration): Configuration {
  return {
    mode: 'production',
    context: work,
    output: { path: join(work, name), clean: true, crossOriginLoading: 'anonymous' },
    plugins: [new CspSealPlugin({ remote: { mode: 'off' } })],
    ...extra,
  }
}

describe('webpack native HTML', () => {
  for (const [name, html] of [
    ['integrity', { integrity: true }],
    ['csp', { csp: true }],
    ['integrity-and-csp', { integrity: true, csp: true }],
  ] as const) {
    it(`output.html ${JSON.stringify(html)}: builds, sealed with webpack's values, works in Chromium, injection blocked`, async () => {
      const out = join(work, name)
      const result = await buildWebpack(
        config(name, {
          entry: { main: { import: './src/index.js', html: true } },
          output: { path: out, clean: true, crossOriginLoading: 'anonymous', html },
        } as Configuration),
      )
      expect(result.errors).toEqual([])
      const page = await readFile(join(out, 'main.html'), 'utf8')
      // csp-seal's policy is in the page; webpack's integrity was filled in before csp-seal read it (no placeholder).
      expect(page).toMatch(/<meta http-equiv="Content-Security-Policy" content="[^"]*" data-csp-seal>/)
      expect(page).not.toContain('__WEBPACK_HTML')
      if ('integrity' in html) expect(page).toMatch(/integrity="sha384-[A-Za-z0-9+/=]+"/)
      // webpack's own CSP meta is kept (browsers enforce both), and said so.
      if ('csp' in html) expect(result.warnings.join('\n')).toContain('(page-policy-kept)')
      const manifest = JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8'))
      expect(Object.keys(manifest.pages)).toEqual(['main.html'])

      const server = await startStaticServer(out)
      const v = await visit(browser, `${server.origin}/main.html`)
      try {
        await waitForRan(v.page, 'lazy')
        await v.collect()
        const info = describeVisit(v)
        expect([...v.ran].sort(), info).toEqual(['lazy', 'main'])
        expect(v.violations, info).toEqual([])
        expect(v.pageErrors, info).toEqual([])
        expect(v.integrityErrors, info).toEqual([])
        expect(v.failedRequests, info).toEqual([])
        await v.page.evaluate(() => {
          const s = document.createElement('script')
          s.textContent = "window.__ran.push('evil')"
          document.head.append(s)
        })
        await v.page.waitForFunction(() => ((window as unknown as { __cspViolations?: unknown[] }).__cspViolations ?? []).length > 0)
        await v.collect()
        expect(v.ran, describeVisit(v)).not.toContain('evil')
        expect(
          v.violations.some((x) => x.effectiveDirective === 'script-src-elem' && x.blockedURI === 'inline'),
          describeVisit(v),
        ).toBe(true)
      } finally {
        await v.close()
        await server.close()
      }
    })
  }

  it("a tampered entry is caught: csp-seal checks webpack's integrity values against the final bytes", async () => {
    const out = join(work, 'tampered')
    // A plugin that changes main.js after webpack's HTML has its integrity, before csp-seal reads the files.
    const tamper = {
      apply(compiler: webpack.Compiler) {
        compiler.hooks.thisCompilation.tap('tamper', (compilation) => {
          compilation.hooks.processAssets.tap(
            { name: 'tamper', stage: webpack.Compilation.PROCESS_ASSETS_STAGE_OPTIMIZE_HASH + 2, before: 'CspSealPlugin' },
            () => {
              const asset = compilation.getAsset('main.js')!
              compilation.updateAsset('main.js', new webpack.sources.RawSource(`${asset.source.source().toString()};window.__ran.push('changed')`))
            },
          )
        })
      },
    }
    const result = await buildWebpack({
      ...config('tampered', { entry: { main: { import: './src/index.js', html: true } } }),
      output: { path: out, clean: true, crossOriginLoading: 'anonymous', html: { integrity: true } },
      plugins: [tamper, new CspSealPlugin({ remote: { mode: 'off' } })],
    } as Configuration)
    expect(result.errors.join('\n')).toMatch(/integrity-mismatch|integrity/)
    expect(result.errors.join('\n')).toContain('main.js')
  })
})

describe('csp-seal/webpack never seals nothing silently', () => {
  it('a build without a page warns (sealed-nothing) with the reason and the CLI command', async () => {
    const out = join(work, 'no-page')
    const result = await buildWebpack(config('no-page', { entry: './src/index.js', output: { path: out, clean: true } }))
    expect(result.errors).toEqual([])
    const warning = result.warnings.find((w) => w.includes('(sealed-nothing)'))
    expect(warning, result.warnings.join('\n')).toBeDefined()
    expect(warning).toContain('the compilation emits no .html page')
    expect(warning).toContain(`npx csp-seal ${out}`)
  })

  it('a library build names the reason', async () => {
    const result = await buildWebpack(
      config('lib', {
        entry: './src/index.js',
        output: { path: join(work, 'lib'), clean: true, library: { type: 'module' } },
        experiments: { outputModule: true },
      }),
    )
    expect(result.warnings.find((w) => w.includes('(sealed-nothing)'))).toContain('library build (output.library)')
  })

  it('a Docusaurus build (its @generated and @docusaurus aliases) fails, naming csp-seal/docusaurus and the CLI', async () => {
    await mkdir(join(work, 'generated'), { recursive: true })
    const result = await buildWebpack(
      config('docusaurus', {
        entry: './src/index.js',
        output: { path: join(work, 'build'), clean: true },
        resolve: { alias: { '@generated': join(work, 'generated'), '@docusaurus/core': join(work, 'generated') } },
      }),
    )
    const error = result.errors.find((e) => e.includes('(framework-html)'))
    expect(error, result.errors.join('\n')).toBeDefined()
    expect(error).toContain('Docusaurus renders its pages after this bundle')
    expect(error).toContain('csp-seal/docusaurus')
    expect(error).toContain('npx csp-seal')
  })
})
