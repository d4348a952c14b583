/**
 * csp-seal/webpack without a browser: what real webpack and Rspack builds report. A later plugin that changes a
 * hashed byte fails the build (checked on the written files), webpack's eval devtool is refused, the warnings
 * about run-time code are given when (and only when) they apply, output.publicPath maps to the base, and the
 * options are validated when the plugin is created.
 */
import { writeFileSync } from 'node:fs'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RspackOptions } from '@rspack/core'
import type { Compiler, Configuration } from 'webpack'
import { SealError } from '../../src/problems.js'
import { startStaticServer, type StaticServer } from '../../test/support/static-server.js'
import { build, buildWebpack, CDN_DIR, tempDir, webpackConfig, type AppOptions, type Bundler, type BuildResult } from '../../test/support/webpack-app.js'
import { CspSealPlugin } from './index.js'

/** Changes files after csp-seal sealed them: in memory at the last processAssets stage, or on disk once written. */
class RewriteAfterSeal {
  constructor(
    private readonly file: RegExp,
    private readonly change: (text: string) => string,
    private readonly when: 'report-stage' | 'on-disk',
  ) {}

  apply(compiler: Compiler) {
    if (this.when === 'on-disk') {
      compiler.hooks.assetEmitted.tap('RewriteAfterSeal', (file, { targetPath, content }) => {
        if (this.file.test(file)) writeFileSync(targetPath, this.change(content.toString()))
      })
      return
    }
    const { Compilation, sources } = compiler.webpack
    compiler.hooks.thisCompilation.tap('RewriteAfterSeal', (compilation) => {
      compilation.hooks.processAssets.tap({ name: 'RewriteAfterSeal', stage: Compilation.PROCESS_ASSETS_STAGE_REPORT }, () => {
        for (const asset of compilation.getAssets()) {
          if (this.file.test(asset.name)) compilation.updateAsset(asset.name, new sources.RawSource(this.change(asset.source.source().toString())))
        }
      })
    })
  }
}

/** Emits a file at a processAssets stage: a page after csp-seal ran (too late), a hand-written _headers before. */
class EmitFile {
  constructor(
    private readonly file: string,
    private readonly content: string,
    private readonly stage: 'ADDITIONAL' | 'REPORT',
  ) {}

  apply(compiler: Compiler) {
    const { Compilation, sources } = compiler.webpack
    compiler.hooks.thisCompilation.tap('EmitFile', (compilation) => {
      compilation.hooks.processAssets.tap({ name: 'EmitFile', stage: Compilation[`PROCESS_ASSETS_STAGE_${this.stage}`] }, () => {
        compilation.emitAsset(this.file, new sources.RawSource(this.content))
      })
    })
  }
}

const codes = (messages: string[]) => messages.map((m) => /csp-seal \(([a-z-]+)\)/.exec(m)?.[1]).filter(Boolean)

describe('csp-seal/webpack build reports', () => {
  let cdn: StaticServer
  const dirs: string[] = []

  beforeAll(async () => {
    cdn = await startStaticServer(CDN_DIR, { cors: true })
  })

  afterAll(async () => {
    await cdn?.close()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  async function options(name: string, rest: Omit<AppOptions, 'out' | 'cdnOrigin'>): Promise<AppOptions> {
    const dir = await tempDir(name)
    dirs.push(dir)
    return { ...rest, out: join(dir, 'dist'), cdnOrigin: cdn.origin }
  }

  async function buildApp(bundler: Bundler, name: string, rest: Omit<AppOptions, 'out' | 'cdnOrigin'>): Promise<BuildResult & { out: string }> {
    const opts = await options(`${bundler}-${name}`, rest)
    return { ...(await build(bundler, opts)), out: opts.out }
  }

  describe('a later plugin that changes a hashed byte fails the build', () => {
    for (const bundler of ['webpack', 'rspack'] as const) {
      it(`${bundler}: an inline script rewritten after sealing (processAssets, REPORT stage)`, async () => {
        const after = [
          new RewriteAfterSeal(
            /^index\.html$/,
            (html) => html.replace("'inline-index'", "'inline-index-changed'").replace('"inline-index"', '"inline-index-changed"'),
            'report-stage',
          ),
        ]
        const { errors, out } = await buildApp(bundler, 'drift-inline', { mode: 'production', after })
        expect(await readFile(join(out, 'index.html'), 'utf8')).toContain('inline-index-changed')
        expect(codes(errors)).toEqual(['hash-drift'])
        expect(errors[0]).toMatch(
          /^(\s*× )?csp-seal \(hash-drift\): index\.html:\d+:\d+: this inline <script> is not allowed by the page's policy: it changed after sealing/,
        )
        expect(errors[0]).toContain('fix: make csp-seal run after every plugin or step that rewrites HTML')
      })
    }

    it('webpack: a script file changed after sealing (its integrity no longer matches)', async () => {
      const after = [new RewriteAfterSeal(/^main\..*\.js$/, (js) => `${js}\n/* banner added later */\n`, 'report-stage')]
      const { errors } = await buildApp('webpack', 'drift-js', { mode: 'production', after })
      expect(codes(errors)).toEqual(['integrity-drift'])
      expect(errors[0]).toMatch(
        /csp-seal \(integrity-drift\): index\.html:\d+:\d+: integrity of main\.[0-9a-f]+\.js no longer matches main\.[0-9a-f]+\.js: browsers will refuse to load it/,
      )
    })

    it('rspack: a lazy chunk changed on disk after emit, while the runtime holds its integrity (SRI plugin)', async () => {
      const after = [new RewriteAfterSeal(/^lazy\..*\.js$/, (js) => `${js}\n/* changed */\n`, 'on-disk')]
      const { errors } = await buildApp('rspack', 'drift-lazy', { mode: 'production', sri: true, after })
      expect(codes(errors)).toEqual(['integrity-drift'])
      expect(errors[0]).toMatch(/csp-seal \(integrity-drift\): lazy\.[0-9a-f]+\.js: this lazy chunk changed after sealing/)
    })

    it('webpack: the written page changed on disk after emit (read back from output.path)', async () => {
      const after = [new RewriteAfterSeal(/^about\/index\.html$/, (html) => html.replace('<style>', '<style>body{margin:0}'), 'on-disk')]
      const { errors } = await buildApp('webpack', 'drift-disk', { mode: 'development', after })
      expect(codes(errors)).toEqual(['hash-drift'])
      expect(errors[0]).toContain('about/index.html:')
      expect(errors[0]).toContain('this inline <style> is not allowed')
    })

    it('rspack: a page emitted after csp-seal ran is reported, not served unsealed silently', async () => {
      const { errors } = await buildApp('rspack', 'late-page', {
        mode: 'production',
        after: [new EmitFile('late.html', '<!doctype html><script>alert(1)</script>', 'REPORT')],
      })
      expect(codes(errors)).toEqual(['unsealed'])
      expect(errors[0]).toContain('late.html: this page was emitted after csp-seal ran')
    })

    it('without a later plugin the same builds verify cleanly', async () => {
      for (const bundler of ['webpack', 'rspack'] as const) {
        const { errors } = await buildApp(bundler, 'clean', { mode: 'production' })
        expect(errors, bundler).toEqual([])
      }
    })
  })

  describe("webpack's eval devtool", () => {
    it('is refused: the default development devtool runs modules through eval(), which the policy blocks', async () => {
      const { errors } = await buildApp('webpack', 'eval', { mode: 'development', devtool: 'default' })
      expect(codes(errors)).toEqual(['eval-devtool'])
      expect(errors[0]).toContain(`devtool "eval" runs every module through eval(), and the policy does not allow 'unsafe-eval'`)
      expect(errors[0]).toContain('fix: set devtool to "source-map"')
    })

    it("is accepted when the policy allows 'unsafe-eval' (a development-only policy)", async () => {
      const policy = "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; object-src 'none'"
      const { errors } = await buildApp('webpack', 'eval-allowed', { mode: 'development', devtool: 'eval-source-map', seal: { policy } })
      expect(errors).toEqual([])
    })
  })

  describe('run-time code', () => {
    it('warns when style-loader <style> tags meet a policy that blocks them, once per build', async () => {
      const { errors, warnings } = await buildApp('rspack', 'style-loader', { mode: 'production' })
      expect(errors).toEqual([])
      expect(codes(warnings).filter((c) => c === 'style-loader')).toHaveLength(1)
      expect(warnings.find((w) => w.includes('(style-loader)'))).toContain('or set nonce: true and serve the pages with csp-seal/server')
    })

    it("does not warn about style-loader with nonce: true, nor with 'unsafe-inline' in style-src-elem", async () => {
      const nonce = await buildApp('rspack', 'style-loader-nonce', { mode: 'production', seal: { nonce: true } })
      const inline = await buildApp('rspack', 'style-loader-inline', {
        mode: 'production',
        seal: { policy: "default-src 'self'; style-src-elem 'self' 'unsafe-inline'" },
      })
      expect(codes(nonce.warnings)).not.toContain('style-loader')
      expect(codes(inline.warnings)).not.toContain('style-loader')
    })

    it("warns when the policy lets lazy chunks in by neither 'self' nor 'strict-dynamic'", async () => {
      const blocked = await buildApp('rspack', 'lazy-blocked', {
        mode: 'production',
        styles: 'files',
        seal: { policy: "default-src 'self'; script-src 'report-sample'" },
      })
      const dynamic = await buildApp('rspack', 'lazy-dynamic', {
        mode: 'production',
        styles: 'files',
        seal: { policy: "default-src 'self'; script-src 'strict-dynamic'" },
      })
      expect(blocked.errors).toEqual([])
      expect(blocked.warnings.find((w) => w.includes('(lazy-chunks-blocked)'))).toMatch(/lazy chunks \(lazy\.[0-9a-f]+\.js\)/)
      expect(codes(dynamic.warnings)).not.toContain('lazy-chunks-blocked')
    })

    it('warns about lazy chunks without integrity only when no SRI plugin is active', async () => {
      const without = await buildApp('rspack', 'sri-off', { mode: 'production', styles: 'files' })
      const withSri = await buildApp('rspack', 'sri-on', { mode: 'production', styles: 'files', sri: true })
      // rspack.SubresourceIntegrityPlugin is off in development ('auto'): the runtime then sets no integrity.
      const devSri = await buildApp('rspack', 'sri-dev', { mode: 'development', styles: 'files', sri: true })
      expect(codes(without.warnings)).toContain('lazy-chunk-integrity')
      expect(codes(withSri.warnings)).not.toContain('lazy-chunk-integrity')
      expect(codes(devSri.warnings)).toContain('lazy-chunk-integrity')
    })

    it('groups a note that applies to every page into one warning naming the pages', async () => {
      const { warnings } = await buildApp('rspack', 'grouped', {
        mode: 'production',
        staticPage: true,
        seal: { nonce: true, policy: "frame-ancestors 'self'" },
      })
      const headerOnly = warnings.filter((w) => w.includes('(header-only-directive)'))
      expect(headerOnly).toHaveLength(1)
      expect(headerOnly[0]).toContain('about/index.html, index.html, static/plain.html: frame-ancestors cannot be set by a meta tag')
    })
  })

  describe('output.publicPath', () => {
    it("a path ('/app/') becomes the base: root-relative asset URLs resolve, get integrity, and the manifest says /app/", async () => {
      const { errors, out } = await buildApp('webpack', 'public-path', { mode: 'production', publicPath: '/app/', styles: 'files' })
      expect(errors).toEqual([])
      const html = await readFile(join(out, 'about/index.html'), 'utf8')
      expect(html).toMatch(/<script defer src=\/app\/about\.[0-9a-f]+\.js integrity="sha384-[^"]+"><\/script>/)
      expect(JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8')).base).toBe('/app/')
    })

    it('an explicit base wins over publicPath', async () => {
      const { errors } = await buildApp('rspack', 'base-wins', { mode: 'production', publicPath: '/app/', styles: 'files', seal: { base: '/' } })
      expect(codes(errors)).toContain('missing-asset')
      expect(errors.find((e) => e.includes('(missing-asset)'))).toContain('/app/main.')
    })

    it('a full URL is explained: the bundle files are then remote files to csp-seal', async () => {
      const { warnings } = await buildApp('rspack', 'public-url', {
        mode: 'production',
        publicPath: 'https://static.invalid/',
        styles: 'files',
        seal: { remote: { onFetchError: 'warn' } },
      })
      expect(warnings.find((w) => w.includes('(remote-public-path)'))).toContain('output.publicPath is a full URL (https://static.invalid/)')
    })
  })

  describe('outputs', () => {
    it('emits the manifest and the header files as assets (merging an emitted _headers), and seals every page', async () => {
      const own = '/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n'
      const after = [new EmitFile('_headers', own, 'ADDITIONAL')]
      const { errors, out } = await buildApp('webpack', 'outputs', {
        mode: 'production',
        staticPage: true,
        styles: 'files',
        seal: { headers: ['netlify', 'vercel', 'nginx'] },
        after,
      })
      expect(errors).toEqual([])
      const headers = await readFile(join(out, '_headers'), 'utf8')
      expect(headers.startsWith(own)).toBe(true)
      expect(headers).toMatch(/\/about\/\n\s+Content-Security-Policy: default-src 'self'/)
      const files = await readdir(out, { recursive: true })
      expect(files).toEqual(
        expect.arrayContaining(['csp-seal.json', '_headers', 'vercel.json', 'csp-seal.nginx.conf', 'index.html', 'about/index.html', 'static/plain.html']),
      )
      for (const page of ['index.html', 'about/index.html', 'static/plain.html']) {
        expect(await readFile(join(out, page), 'utf8'), page).toContain('<meta http-equiv="Content-Security-Policy"')
      }
    })
  })

  describe('options', () => {
    it('are validated when the plugin is created, every problem at once', () => {
      expect(() => new CspSealPlugin({ policy: "script-src 'self'; ", hashAlgorithm: 'md5' as never, colour: true } as never)).toThrow(SealError)
      try {
        new CspSealPlugin({ hashAlgorithm: 'md5' as never, colour: true } as never)
      } catch (error) {
        expect((error as SealError).problems.map((p) => p.code)).toEqual(['invalid-config', 'invalid-config'])
      }
    })

    it('the plugin type fits both configuration types (checked by npm run typecheck)', () => {
      const forWebpack: Configuration = { plugins: [new CspSealPlugin()] }
      const forRspack: RspackOptions = { plugins: [new CspSealPlugin({ nonce: true })] }
      expect([forWebpack.plugins?.length, forRspack.plugins?.length]).toEqual([1, 1])
    })

    it('works as a webpack config plugin with no options (the default policy)', async () => {
      const opts = await options('webpack-no-options', { mode: 'production', styles: 'files' })
      const config = webpackConfig(opts)
      config.plugins = config.plugins!.map((p) => (p instanceof CspSealPlugin ? new CspSealPlugin({ remote: { mode: 'off' } }) : p))
      const { errors, warnings } = await buildWebpack(config)
      expect(errors).toEqual([])
      expect(codes(warnings)).toContain('remote-without-integrity')
    })
  })
})
