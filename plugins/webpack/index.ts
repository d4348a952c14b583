/**
 * `csp-seal/webpack`: seals the HTML pages of a webpack 5 or Rspack build.
 *
 * ```js
 * const { CspSealPlugin } = require('csp-seal/webpack')
 * plugins: [new HtmlWebpackPlugin(), new CspSealPlugin({ policy: "default-src 'self'" })]
 * ```
 *
 * Everything bundler-specific comes from the compiler object (`compiler.webpack` / `compiler.rspack`): the plugin
 * never imports webpack, Rspack or an HTML plugin, so one build of it serves both bundlers and any HTML emitter.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Compilation, Compiler, Module, WebpackError } from 'webpack'
import { allowsSelf } from '../../src/csp/allow.js'
import { allowsAllInline } from '../../src/csp/inline.js'
import { governingSources, type Policy } from '../../src/csp/policy.js'
import { resolveConfig, type CspSealConfig } from '../../src/config.js'
import { formatProblem, SealError, type Problem } from '../../src/problems.js'
import { digestOf } from '../../src/output/manifest.js'
import { sealBundle, verifyBundle, type BundleResult } from '../../src/site/bundle.js'
import { isScriptFile } from '../../src/site/runtime-styles.js'

export type { CspSealConfig } from '../../src/config.js'

const NAME = 'CspSealPlugin'

/** The parts of a webpack or Rspack compiler the plugin's type needs: any compiler object fits. */
export interface CompilerLike {
  options: unknown
  hooks: unknown
}

/** What one compilation found: the sealed result (for the check after emit) and run-time style injection. */
interface State {
  result?: BundleResult
  styleTagModules: boolean
  /** Lazy chunks whose integrity the runtime holds (SRI plugin), with the digest of their final bytes. */
  lazyDigests?: Map<string, string>
}

/**
 * The nonce bootstrap, prepended to every entry when `nonce: true`. It must be a module of the bundle: the webpack
 * runtime reads `__webpack_nonce__` from its own scope, which no inline script can reach. The published package
 * holds the compiled `.js`; running from source (the tests), the `.ts` file is plain JavaScript and is used as is.
 */
function nonceBootstrapPath(): string {
  const compiled = fileURLToPath(new URL('./nonce-bootstrap.js', import.meta.url))
  return existsSync(compiled) ? compiled : fileURLToPath(new URL('./nonce-bootstrap.ts', import.meta.url))
}

export class CspSealPlugin {
  readonly options: CspSealConfig

  constructor(options: CspSealConfig = {}) {
    // Validate now, so a bad option fails when the config is loaded, not halfway through a build.
    resolveConfig(options)
    this.options = options
  }

  apply(compilerLike: CompilerLike): void {
    const compiler = compilerLike as Compiler
    const bundler = bundlerOf(compiler)
    const states = new WeakMap<Compilation, State>()

    if (this.options.nonce) {
      // An entry without a name is added in front of every entry (what webpack-dev-server does for its client).
      new bundler.EntryPlugin(compiler.context, nonceBootstrapPath(), { name: undefined }).apply(compiler)
    }

    compiler.hooks.thisCompilation.tap(NAME, (compilation) => {
      const state: State = { styleTagModules: false }
      states.set(compilation, state)

      compilation.hooks.finishModules.tap(NAME, (modules) => {
        // Before concatenation every module is still its own: style-loader's <style> runtime is easy to spot.
        for (const module of modules) if (STYLE_TAG_RUNTIME.test(moduleName(module))) state.styleTagModules = true
      })

      compilation.hooks.processAssets.tapPromise(
        // After RealContentHash (OPTIMIZE_HASH) has renamed and rewritten files, and after webpack's own HTML
        // output (experiments.html) has filled in its integrity values and CSP meta at OPTIMIZE_HASH + 1;
        // before compression and reports.
        { name: NAME, stage: SEAL_STAGE(bundler) },
        async () => {
          const report = reporter(bundler, compilation)
          try {
            state.result = await this.seal(compiler, compilation, state, report)
          } catch (error) {
            if (error instanceof SealError) report.errors(error.problems)
            else report.errors([{ code: 'internal', message: `sealing failed: ${(error as Error).stack ?? String(error)}` }])
          }
        },
      )
    })

    compiler.hooks.afterEmit.tapPromise(NAME, async (compilation) => {
      const state = states.get(compilation)
      if (!state?.result) return
      const report = reporter(bundler, compilation)
      report.errors(await verifyWritten(compiler, compilation, state, state.result))
    })
  }

  private async seal(compiler: Compiler, compilation: Compilation, state: State, report: Reporter): Promise<BundleResult | undefined> {
    const { outputOptions } = compilation
    const publicPath = outputOptions.publicPath
    const config: CspSealConfig = { ...this.options }
    const adapterProblems: Problem[] = []
    if (typeof publicPath === 'string' && config.base === undefined) {
      // Root-relative URLs in the pages start with the public path: it is the site's base.
      if (/^\/(?!\/)/.test(publicPath)) config.base = publicPath
      else if (FULL_URL.test(publicPath)) {
        adapterProblems.push({
          code: 'remote-public-path',
          message: `output.publicPath is a full URL (${publicPath}): the pages name the bundle's own files by that URL, so csp-seal handles them as files of another origin: it fetches them from there to pin their integrity, which fails until they are deployed`,
          fix: 'use a path ("/assets/") as publicPath; or deploy the files first; or set remote: { onFetchError: "warn" } so they are allowed by their origin (with the integrity webpack-subresource-integrity or rspack.SubresourceIntegrityPlugin puts on their tags)',
        })
      }
    }
    const resolved = resolveConfig(config)

    const devtool = compiler.options.devtool
    if (
      typeof devtool === 'string' &&
      devtool.includes('eval') &&
      !(governingSources(resolved.policy, 'script-src') ?? ["'unsafe-eval'"]).includes("'unsafe-eval'")
    ) {
      // webpack's development default: every module runs through eval(), which the policy blocks. Nothing would run.
      report.errors([
        {
          code: 'eval-devtool',
          message: `devtool "${devtool}" runs every module through eval(), and the policy does not allow 'unsafe-eval': the sealed pages would not run`,
          fix: 'set devtool to "source-map", "inline-source-map", "cheap-module-source-map" or false (no eval); or, for development builds only, add \'unsafe-eval\' to script-src',
        },
      ])
    }

    const htmlAssets = compilation.getAssets().filter((asset) => HTML_FILE.test(asset.name))
    if (htmlAssets.length === 0) {
      report.warnings(adapterProblems)
      const docusaurus = isDocusaurus(compiler)
      // Never a silent no-op: Docusaurus renders its pages after this bundle (fail, naming what seals them);
      // any other build says it sealed nothing, and how to seal pages a later step writes.
      if (docusaurus) report.errors([docusaurusProblem(compilation)])
      else report.warnings([sealedNothing(compiler, compilation)])
      return undefined
    }
    const pages: Array<{ file: string; html: string }> = []
    const decodeProblems: Problem[] = []
    for (const asset of htmlAssets) {
      try {
        pages.push({ file: asset.name, html: UTF8.decode(asset.source.buffer()) })
      } catch {
        decodeProblems.push({
          code: 'charset',
          file: asset.name,
          message: 'the page is not valid UTF-8; CSP hashes are computed over UTF-8 text, so csp-seal only seals UTF-8 pages',
          fix: 'emit the page as UTF-8',
        })
      }
    }
    if (decodeProblems.length) throw new SealError(decodeProblems)

    const result = await sealBundle(pages, {
      config: resolved,
      // The remote lock file and cache are relative to the project (webpack's context), not to wherever node runs.
      cwd: compiler.context,
      scripts: compilation
        .getAssets()
        .filter((asset) => isScriptFile(asset.name))
        .map((asset) => ({ file: asset.name, read: () => asset.source.source().toString() })),
      // The final bytes of the emitted files, as RealContentHash left them.
      readAsset: async (file) => compilation.getAsset(file)?.source.buffer(),
      readExisting: async (file) => compilation.getAsset(file)?.source.source().toString(),
    })

    const { RawSource } = bundlerOf(compiler).sources
    for (const page of result.pages) {
      if (page.changed) compilation.updateAsset(page.file, new RawSource(Buffer.from(page.bytes)))
    }
    for (const [file, content] of result.files) {
      const source = new RawSource(Buffer.from(content, 'utf8'))
      if (compilation.getAsset(file)) compilation.updateAsset(file, source)
      else compilation.emitAsset(file, source)
    }

    const lazy = lazyScripts(compilation)
    const sri = lazy.length > 0 && runtimeSetsIntegrity(compilation)
    if (sri) state.lazyDigests = new Map(lazy.map((file) => [file, digestOf(compilation.getAsset(file)!.source.buffer())]))
    report.warnings([...result.warnings, ...adapterProblems, ...runtimeProblems(compilation, result, state, lazy, sri)])
    return result
  }
}

const SEAL_STAGE = (bundler: Compiler['webpack']) => bundler.Compilation.PROCESS_ASSETS_STAGE_OPTIMIZE_HASH + 2

/**
 * Docusaurus's client and server builds: its `@generated` and `@docusaurus` aliases are in every config it makes.
 * Its pages are rendered from the server bundle after both builds, where no webpack plugin sees them.
 */
function isDocusaurus(compiler: Compiler): boolean {
  const alias = compiler.options.resolve?.alias
  const names = Array.isArray(alias) ? alias.map((a) => a.name) : Object.keys(alias ?? {})
  return names.includes('@generated') && names.some((n) => n === '@docusaurus' || n.startsWith('@docusaurus/'))
}

function docusaurusProblem(compilation: Compilation): Problem {
  return {
    code: 'framework-html',
    message:
      'this is a Docusaurus build: Docusaurus renders its pages after this bundle, where a webpack plugin cannot see them, so csp-seal/webpack would seal nothing',
    fix: `remove CspSealPlugin from configureWebpack; add the csp-seal/docusaurus plugin to docusaurus.config (plugins: [['csp-seal/docusaurus', { … }]]), or run \`npx csp-seal ${shownPath(compilation.outputOptions.path)}\` after \`docusaurus build\``,
  }
}

function sealedNothing(compiler: Compiler, compilation: Compilation): Problem {
  const out = compilation.outputOptions.path ?? compiler.outputPath
  const library = compilation.outputOptions.library
  const server = compiler.options.target === 'node' || (typeof compiler.options.target === 'string' && compiler.options.target.startsWith('node'))
  const reason = library
    ? 'this is a library build (output.library), which emits no page'
    : server
      ? `this is a server build (target ${String(compiler.options.target)}), which emits no page`
      : 'the compilation emits no .html page (no HtmlWebpackPlugin, rspack.HtmlRspackPlugin or HTML entry)'
  return {
    code: 'sealed-nothing',
    message: `sealed nothing: ${reason}`,
    fix: `if a later step writes pages into ${out}, seal them after it: npx csp-seal ${shownPath(out)}`,
  }
}

function shownPath(dir: string | undefined): string {
  if (!dir) return '<output folder>'
  const rel = dir.startsWith(process.cwd() + '/') ? dir.slice(process.cwd().length + 1) : dir
  return /\s/.test(rel) ? JSON.stringify(rel) : rel
}

/** The running bundler's API: Rspack exposes it as compiler.rspack (and compiler.webpack), webpack as compiler.webpack. */
function bundlerOf(compiler: Compiler): Compiler['webpack'] {
  return (compiler as Compiler & { rspack?: Compiler['webpack'] }).rspack ?? compiler.webpack
}

/** Code that webpack's runtime or style-loader adds to the page at run time, checked against each page's policy. */
function runtimeProblems(compilation: Compilation, result: BundleResult, state: State, lazy: string[], sri: boolean): Problem[] {
  const problems: Problem[] = []
  const { config } = result
  const pagesWhere = (test: (policy: Policy) => boolean) => result.pages.filter((page) => test(page.policy)).map((page) => page.file)

  if (state.styleTagModules && !config.nonce) {
    if (result.pages.some((page) => !allowsAllInline(page.policy, 'style-src-elem'))) {
      problems.push({
        code: 'style-loader',
        message:
          "style-loader inserts <style> elements at run time; their text is only known in the browser, so they cannot be hashed, and the sealed policy blocks them (style-src-elem allows neither 'unsafe-inline' nor a nonce)",
        fix: "emit CSS files instead (mini-css-extract-plugin, rspack.CssExtractRspackPlugin or webpack's experiments.css), which <link> tags load; or set nonce: true and serve the pages with csp-seal/server; or keep 'unsafe-inline' in style-src-elem only (weak: any injected <style> applies)",
      })
    }
  }

  if (lazy.length === 0) return problems
  if (!config.nonce) {
    const blocked = pagesWhere(
      (policy) => !allowsSelf(policy, 'script-src-elem') && !(governingSources(policy, 'script-src-elem') ?? []).includes("'strict-dynamic'"),
    )
    if (blocked.length) {
      problems.push({
        code: 'lazy-chunks-blocked',
        message: `the webpack runtime inserts <script> tags for lazy chunks (${list(lazy)}), and the policy of ${list(blocked)} allows neither 'self' nor 'strict-dynamic' for scripts: they will be blocked`,
        fix: "add 'self' to script-src (or 'strict-dynamic'), or set nonce: true and serve the pages with csp-seal/server",
      })
    }
  }
  const publicPath = compilation.outputOptions.publicPath
  if (!sri) {
    problems.push({
      code: 'lazy-chunk-integrity',
      message: `lazy chunks (${list(lazy)}) are loaded by the webpack runtime without integrity: the policy allows them by origin, so they are only as safe as the server that hosts them`,
      fix: "to pin their bytes, add webpack-subresource-integrity (webpack) or rspack.SubresourceIntegrityPlugin (Rspack) and set output.crossOriginLoading: 'anonymous'",
    })
  } else if (!compilation.outputOptions.crossOriginLoading && typeof publicPath === 'string' && FULL_URL.test(publicPath)) {
    problems.push({
      code: 'cross-origin-loading',
      message: `lazy chunks carry integrity and load from another origin (output.publicPath ${publicPath}), but output.crossOriginLoading is not set: a browser can only check the integrity of a cross-origin file fetched with CORS`,
      fix: "set output.crossOriginLoading: 'anonymous' (and serve the chunks with Access-Control-Allow-Origin)",
    })
  }
  return problems
}

/** JavaScript files of chunks that only load on demand (import()), which the runtime inserts as <script> tags. */
function lazyScripts(compilation: Compilation): string[] {
  const files: string[] = []
  for (const chunk of compilation.chunks) {
    if (chunk.canBeInitial()) continue
    for (const file of chunk.files) if (/\.m?js$/.test(file)) files.push(file)
  }
  return files.sort()
}

/**
 * Whether the runtime puts integrity on the script tags it inserts: webpack-subresource-integrity and
 * rspack.SubresourceIntegrityPlugin both keep the hashes in `__webpack_require__.sriHashes`. Looking at the
 * emitted runtime (not at the plugin list) also sees when such a plugin is present but disabled (development mode).
 */
function runtimeSetsIntegrity(compilation: Compilation): boolean {
  for (const chunk of compilation.chunks) {
    if (!chunk.hasRuntime()) continue
    for (const file of chunk.files) {
      if (/\.m?js$/.test(file) && compilation.getAsset(file)?.source.source().toString().includes('.sriHashes')) return true
    }
  }
  return false
}

/** Reads the written files back from the output file system (memory in webpack-dev-server) and checks them. */
async function verifyWritten(compiler: Compiler, compilation: Compilation, state: State, result: BundleResult): Promise<Problem[]> {
  const fs = compiler.outputFileSystem
  const root = compilation.outputOptions.path ?? compiler.outputPath
  if (!fs?.readFile || !root) return []
  const readWritten = (file: string) =>
    new Promise<Uint8Array | undefined>((resolve) => fs.readFile(join(root, file), (error, data) => resolve(error || !data ? undefined : (data as Uint8Array))))
  const problems = await verifyBundle(result, readWritten)
  for (const [file, digest] of state.lazyDigests ?? []) {
    const bytes = await readWritten(file)
    if (bytes && digestOf(bytes) !== digest) {
      problems.push({
        code: 'integrity-drift',
        file,
        message: 'this lazy chunk changed after sealing; the webpack runtime loads it with the integrity the SRI plugin computed, so browsers will refuse it',
        fix: 'run the step that changes it before processAssets stage OPTIMIZE_HASH',
      })
    }
  }
  const sealed = new Set(result.pages.map((page) => page.file))
  for (const asset of compilation.getAssets()) {
    if (HTML_FILE.test(asset.name) && !sealed.has(asset.name)) {
      problems.push({
        code: 'unsealed',
        file: asset.name,
        message: 'this page was emitted after csp-seal ran, so it has no policy',
        fix: 'emit HTML before processAssets stage OPTIMIZE_HASH + 2 (where csp-seal seals)',
      })
    }
  }
  return problems
}

type Reporter = ReturnType<typeof reporter>

/** Problems become WebpackErrors (from the running bundler) in compilation.errors / compilation.warnings. */
function reporter(bundler: Compiler['webpack'], compilation: Compilation) {
  const toError = (problem: Problem): WebpackError => {
    // The code in the message lets users find the problem in docs/webpack.md and tests tell problems apart.
    const error = new bundler.WebpackError(`csp-seal (${problem.code}): ${formatProblem(problem)}`)
    error.name = 'CspSealError'
    error.hideStack = problem.code !== 'internal'
    if (problem.file) error.file = problem.file
    return error
  }
  return {
    errors: (problems: Problem[]) => compilation.errors.push(...grouped(problems).map(toError)),
    warnings: (problems: Problem[]) => compilation.warnings.push(...grouped(problems).map(toError)),
  }
}

/** Page-level problems that differ only by page become one that names the pages (else a policy note repeats per page). */
function grouped(problems: Problem[]): Problem[] {
  const entries: Array<{ problem: Problem; files: string[] }> = []
  const byKey = new Map<string, { problem: Problem; files: string[] }>()
  for (const problem of problems) {
    const key =
      problem.file !== undefined && problem.line === undefined ? JSON.stringify([problem.code, problem.message, problem.fix, problem.element]) : undefined
    const same = key === undefined ? undefined : byKey.get(key)
    if (same) {
      same.files.push(problem.file!)
      continue
    }
    const entry = { problem, files: problem.file === undefined ? [] : [problem.file] }
    entries.push(entry)
    if (key !== undefined) byKey.set(key, entry)
  }
  return entries.map(({ problem, files }) => (files.length > 1 ? { ...problem, file: list(files, 5) } : problem))
}

function moduleName(module: Module): string {
  return (module as Module & { resource?: string }).resource ?? module.identifier()
}

function list(items: string[], max = 3): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`
}

const HTML_FILE = /\.html?$/i
const FULL_URL = /^([a-z][a-z\d+.-]*:)?\/\//i
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// style-loader's <style> runtimes (styleTag, singletonStyleTag, lazyStyleTag); linkTag uses injectStylesIntoLinkTag.
const STYLE_TAG_RUNTIME = /[\\/]style-loader[\\/]dist[\\/]runtime[\\/](injectStylesIntoStyleTag|insertStyleElement|singletonStyleDomAPI)\.js$/
