/**
 * The webpack/Rspack fixture app (fixtures/webpack-app) built by the real bundlers, and what the browser tests
 * check on its pages. Used by plugins/webpack/*.test.ts.
 *
 * The app: two pages from one HTML template (an inline script, an inline style, a CDN script), each with its own
 * entry that imports a style-loader stylesheet; the index entry loads a lazy chunk (import()) that brings its
 * own style-loader stylesheet. Every script pushes an id into window.__ran; every stylesheet colours an element.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import { rspack, type RspackOptions } from '@rspack/core'
import HtmlWebpackPlugin from 'html-webpack-plugin'
import webpack, { type Configuration } from 'webpack'
import { SubresourceIntegrityPlugin } from 'webpack-subresource-integrity'
import { CspSealPlugin, type CspSealConfig } from '../../plugins/webpack/index.js'
import { createMiddleware } from '../../src/server/index.js'
import { afterAll, beforeAll } from 'vitest'
import { computedStyle, describeVisit, launchBrowser, visit, type Browser, type Page, type Visit } from './browser.js'
import { startStaticServer, type StaticServer } from './static-server.js'
import { FIXTURES } from './sites.js'

export const APP = join(FIXTURES, 'webpack-app')
export const CDN_DIR = join(APP, 'cdn')

export type Bundler = 'webpack' | 'rspack'

type Expect = (value: unknown, message?: string) => any

export interface AppOptions {
  mode: 'production' | 'development'
  out: string
  /** Origin of the CDN serving fixtures/webpack-app/cdn (the template loads cdn.js from it). */
  cdnOrigin: string
  /** csp-seal options; the remote lock file and cache always go to a temp dir, never into the fixture. */
  seal?: CspSealConfig
  /** Lazy-chunk integrity: webpack-subresource-integrity or rspack.SubresourceIntegrityPlugin. */
  sri?: boolean
  /**
   * `tag` (default): style-loader `<style>` tags. `files`: CSS emitted as files and loaded by `<link>` tags (the
   * lazy chunk's by the runtime): webpack's native CSS (experiments.css), rspack.CssExtractRspackPlugin.
   */
  styles?: 'tag' | 'files'
  publicPath?: string
  /** Default: 'anonymous' with sri, else false. */
  crossOriginLoading?: 'anonymous' | 'use-credentials' | false
  /** Default: source-map in development, false in production; 'default': the bundler's own default. */
  devtool?: string | false
  /** Also emit a static page the way copy-webpack-plugin does (fixtures/webpack-app/static/plain.html). */
  staticPage?: boolean
  /** Plugins added after csp-seal. */
  after?: unknown[]
}

/** A fresh temp dir for one build (lock file, cache, output). */
export async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `csp-seal-${name}-`))
}

export const PAGES = [
  { filename: 'index.html', chunk: 'main', title: 'Home', page: 'index' },
  { filename: 'about/index.html', chunk: 'about', title: 'About', page: 'about' },
] as const

/** What each page must show in the browser: the ids in window.__ran and [selector, color] pairs. */
export const EXPECTED: Record<string, { ran: string[]; colors: Array<[string, string]> }> = {
  'index.html': {
    ran: ['inline-index', 'cdn', 'main', 'lazy'],
    colors: [
      ['#inline-styled', 'rgb(255, 0, 0)'],
      ['#styled', 'rgb(0, 128, 0)'],
      ['#lazy-styled', 'rgb(0, 0, 255)'],
    ],
  },
  'about/index.html': {
    ran: ['inline-about', 'cdn', 'about'],
    colors: [
      ['#inline-styled', 'rgb(255, 0, 0)'],
      ['#styled', 'rgb(0, 128, 0)'],
    ],
  },
  'static/plain.html': {
    ran: ['inline-static'],
    colors: [['#static-styled', 'rgb(128, 0, 128)']],
  },
}

function cssRules(bundler: Bundler, styles: 'tag' | 'files') {
  if (styles === 'tag') return [{ test: /\.css$/, use: ['style-loader', 'css-loader'], type: 'javascript/auto' }]
  // webpack's native CSS needs no rule (experiments.css); Rspack's extract plugin comes with a loader.
  return bundler === 'webpack' ? [] : [{ test: /\.css$/, use: [rspack.CssExtractRspackPlugin.loader, 'css-loader'], type: 'javascript/auto' }]
}

/** Emits fixtures/webpack-app/static/plain.html as an asset, as copy-webpack-plugin would: csp-seal must seal it too. */
class CopyStaticPagePlugin {
  apply(compiler: webpack.Compiler) {
    const { Compilation, sources } = compiler.webpack
    compiler.hooks.thisCompilation.tap('CopyStaticPage', (compilation) => {
      compilation.hooks.processAssets.tap({ name: 'CopyStaticPage', stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        compilation.emitAsset('static/plain.html', new sources.RawSource(readFileSync(join(APP, 'static', 'plain.html'))))
      })
    })
  }
}

function sealOptions(options: AppOptions): CspSealConfig {
  const { seal = {} } = options
  return { ...seal, remote: { lockFile: join(options.out, '..', 'csp-seal.lock.json'), cacheDir: join(options.out, '..', 'cache'), ...seal.remote } }
}

function common(bundler: Bundler, options: AppOptions) {
  const { mode, out, sri = false, styles = 'tag' } = options
  return {
    mode,
    context: APP,
    entry: { main: './src/index.js', about: './src/about.js' },
    // 'default' leaves it to the bundler (webpack's development default is eval).
    ...(options.devtool === 'default' ? {} : { devtool: options.devtool ?? (mode === 'development' ? 'source-map' : false) }),
    output: {
      path: out,
      filename: '[name].[contenthash].js',
      chunkFilename: '[name].[contenthash].js',
      cssFilename: '[name].[contenthash].css',
      cssChunkFilename: '[name].[contenthash].css',
      publicPath: options.publicPath ?? 'auto',
      clean: true,
      crossOriginLoading: options.crossOriginLoading ?? (sri ? ('anonymous' as const) : false),
    },
    // On in production by default; set so development builds exercise it too.
    optimization: { realContentHash: true },
    module: { rules: cssRules(bundler, styles) },
    ...(bundler === 'webpack' && styles === 'files' ? { experiments: { css: true } } : {}),
    infrastructureLogging: { level: 'error' as const },
  }
}

export function webpackConfig(options: AppOptions): Configuration {
  const html = PAGES.map(
    ({ filename, chunk, title, page }) =>
      new HtmlWebpackPlugin({ template: './src/template.html', filename, chunks: [chunk], templateParameters: { title, page, cdnOrigin: options.cdnOrigin } }),
  )
  return {
    ...common('webpack', options),
    plugins: [
      ...html,
      ...(options.staticPage ? [new CopyStaticPagePlugin()] : []),
      ...(options.sri ? [new SubresourceIntegrityPlugin()] : []),
      new CspSealPlugin(sealOptions(options)),
      ...((options.after ?? []) as webpack.WebpackPluginInstance[]),
    ],
  } as Configuration
}

export function rspackConfig(options: AppOptions): RspackOptions {
  const html = PAGES.map(
    ({ filename, chunk, title, page }) =>
      new rspack.HtmlRspackPlugin({
        template: './src/template.html',
        filename,
        chunks: [chunk],
        templateParameters: { title, page, cdnOrigin: options.cdnOrigin },
      }),
  )
  return {
    ...common('rspack', options),
    plugins: [
      ...html,
      ...(options.staticPage ? [new CopyStaticPagePlugin()] : []),
      ...(options.styles === 'files'
        ? [new rspack.CssExtractRspackPlugin({ filename: '[name].[contenthash].css', chunkFilename: '[name].[contenthash].css' })]
        : []),
      ...(options.sri ? [new rspack.SubresourceIntegrityPlugin()] : []),
      new CspSealPlugin(sealOptions(options)),
      ...(options.after ?? []),
    ],
  } as RspackOptions
}

export interface BuildResult {
  errors: string[]
  warnings: string[]
}

interface RunnableCompiler {
  run(
    callback: (
      error: Error | null,
      stats?: { toJson(options: object): { errors?: Array<{ message: string }>; warnings?: Array<{ message: string }> } },
    ) => void,
  ): void
  close(callback: (error?: Error | null) => void): void
}

function run(compiler: RunnableCompiler): Promise<BuildResult> {
  return new Promise((resolve, reject) => {
    compiler.run((error, stats) => {
      compiler.close(() => {
        if (error) return reject(error)
        const json = stats!.toJson({ all: false, errors: true, warnings: true })
        // Rspack colours its messages when the environment asks for colour (as CI runners do): compare plain text.
        const plain = (list: Array<{ message: string }> = []) => list.map((e) => stripVTControlCharacters(e.message))
        resolve({ errors: plain(json.errors), warnings: plain(json.warnings) })
      })
    })
  })
}

export function build(bundler: Bundler, options: AppOptions): Promise<BuildResult> {
  return bundler === 'webpack' ? buildWebpack(webpackConfig(options)) : buildRspack(rspackConfig(options))
}

export function buildWebpack(config: Configuration): Promise<BuildResult> {
  return run(webpack(config) as unknown as RunnableCompiler)
}

export function buildRspack(config: RspackOptions): Promise<BuildResult> {
  return run(rspack(config) as unknown as RunnableCompiler)
}

/**
 * The per-response nonce runtime (csp-seal/server) serving a sealed output folder on 127.0.0.1. `tamper` may
 * replace the bytes of non-HTML files on the way out (a compromised host or CDN).
 */
export async function startNonceServer(
  root: string,
  tamper?: (path: string) => string | undefined,
): Promise<{ origin: string; logged: string[]; close(): Promise<void> }> {
  const logged: string[] = []
  const middleware = createMiddleware({ root, log: (message) => logged.push(message) })
  const server = createServer((req, res) => {
    const replaced = tamper?.(req.url ?? '/')
    if (replaced === undefined) return middleware(req, res)
    res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' }).end(replaced)
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logged,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done())
        server.closeAllConnections()
      }),
  }
}

/**
 * What a page must show: every expected script ran (exactly), every style applied, and nothing was blocked.
 */
export async function expectWorking(expect: Expect, v: Visit, file: string): Promise<void> {
  const info = describeVisit(v)
  const expected = EXPECTED[file]!
  expect(v.response?.status(), info).toBe(200)
  expect([...v.ran].sort(), info).toEqual([...expected.ran].sort())
  for (const [selector, color] of expected.colors) expect(await computedStyle(v.page, selector, 'color'), `${file}: ${selector} ${info}`).toBe(color)
  expect(v.violations, info).toEqual([])
  expect(v.cspConsoleErrors, info).toEqual([])
  expect(v.integrityErrors, info).toEqual([])
  expect(v.pageErrors, info).toEqual([])
  expect(v.badResponses, info).toEqual([])
  expect(v.failedRequests, info).toEqual([])
}

/** Waits until the page's window.__ran holds `id` (the lazy chunk runs after load); the test's hang guard stops a wait that never ends. */
export async function waitForRan(page: Page, id: string): Promise<void> {
  await page.waitForFunction((wanted) => ((window as unknown as { __ran?: string[] }).__ran ?? []).includes(wanted), id, { timeout: 0 })
}

/**
 * Injects what an attacker would (after an HTML injection): an inline script, an inline event handler, a script
 * from a foreign origin, a script from the CDN origin that the page did not ask for, and an inline style.
 */
export async function injectPayloads(page: Page, foreignOrigin: string, cdnOrigin: string): Promise<void> {
  await page.evaluate(
    ([foreign, cdn]) => {
      const inline = document.createElement('script')
      inline.textContent = "window.__ran.push('evil-inline')"
      document.head.append(inline)
      document.body.insertAdjacentHTML('beforeend', '<img alt="" src="data:image/png;base64,AAAA" onerror="window.__ran.push(\'evil-handler\')">')
      for (const origin of [foreign, cdn]) {
        const script = document.createElement('script')
        script.src = `${origin}/evil.js`
        document.head.append(script)
      }
      const style = document.createElement('style')
      style.textContent = '#probe { color: rgb(1, 2, 3) }'
      document.head.append(style)
    },
    [foreignOrigin, cdnOrigin] as const,
  )
  await page.waitForTimeout(300)
}

/** After {@link injectPayloads}: nothing ran, the style did not apply, and each block was reported. */
export async function expectPayloadsBlocked(expect: Expect, v: Visit, options: { styles: boolean } = { styles: true }): Promise<void> {
  await v.collect()
  const info = describeVisit(v)
  for (const id of ['evil-inline', 'evil-handler', 'evil-foreign']) expect(v.ran, info).not.toContain(id)
  const directives = v.violations.map((x) => x.effectiveDirective)
  expect(directives, info).toContain('script-src-attr')
  expect(v.violations.filter((x) => x.effectiveDirective === 'script-src-elem' && x.blockedURI === 'inline').length, info).toBeGreaterThan(0)
  expect(v.violations.filter((x) => x.blockedURI.endsWith('/evil.js')).length, info).toBe(2)
  if (options.styles) {
    expect(await computedStyle(v.page, '#probe', 'color'), info).not.toBe('rgb(1, 2, 3)')
    expect(directives, info).toContain('style-src-elem')
  }
}

/** Opens `file` of a served build and checks {@link expectWorking} (after the lazy chunk has run, on the index). */
export async function checkPage(expect: Expect, browser: Browser, origin: string, file: string): Promise<void> {
  const v = await visit(browser, `${origin}/${file}`)
  try {
    if (EXPECTED[file]!.ran.includes('lazy')) await waitForRan(v.page, 'lazy')
    await v.collect()
    await expectWorking(expect, v, file)
  } finally {
    await v.close()
  }
}

/** Opens the index of a served build, injects the payloads and checks they were all blocked. */
export async function checkPayloads(
  expect: Expect,
  browser: Browser,
  origin: string,
  foreignOrigin: string,
  cdnOrigin: string,
  options = { styles: true },
): Promise<void> {
  const v = await visit(browser, `${origin}/`)
  try {
    await waitForRan(v.page, 'lazy')
    await injectPayloads(v.page, foreignOrigin, cdnOrigin)
    await expectPayloadsBlocked(expect, v, options)
    if (!options.styles) expect(await computedStyle(v.page, '#probe', 'color')).toBe('rgb(1, 2, 3)')
  } finally {
    await v.close()
  }
}

/** Runs `use` with a server started by `start`, and closes the server whatever happens. */
export async function withServer<S extends { origin: string; close(): Promise<void> }>(start: Promise<S>, use: (server: S) => Promise<void>): Promise<void> {
  const server = await start
  try {
    await use(server)
  } finally {
    await server.close()
  }
}

/**
 * What every bundler test file shares: one Chromium, a CDN origin and a foreign origin (both serving
 * fixtures/webpack-app/cdn), and builds into temp folders that are removed after the file.
 */
export function useBuildHarness(bundler: Bundler) {
  const harness = {} as { browser: Browser; cdn: StaticServer; foreign: StaticServer }
  const dirs: string[] = []
  beforeAll(async () => {
    harness.browser = await launchBrowser()
    harness.cdn = await startStaticServer(CDN_DIR, { cors: true })
    harness.foreign = await startStaticServer(CDN_DIR, { cors: true })
  })
  afterAll(async () => {
    await harness.browser?.close()
    await harness.cdn?.close()
    await harness.foreign?.close()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })
  const buildApp = async (name: string, options: Omit<AppOptions, 'out' | 'cdnOrigin'>): Promise<{ out: string; result: BuildResult }> => {
    const dir = await tempDir(`${bundler}-${name}`)
    dirs.push(dir)
    const out = join(dir, 'dist')
    return { out, result: await build(bundler, { ...options, out, cdnOrigin: harness.cdn.origin }) }
  }
  return { harness, buildApp }
}
