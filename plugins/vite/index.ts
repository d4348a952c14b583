/**
 * `csp-seal/vite`: seals every `vite build` (hashes, integrity, one policy per page, manifest and header files),
 * verifies what was written, serves `vite preview` with the policy headers and `vite dev` with a per-response nonce.
 *
 *   import { cspSeal } from 'csp-seal/vite'
 *   export default defineConfig({ plugins: [cspSeal({ policy: "default-src 'self'; object-src 'none'" })] })
 */
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import pc from 'picocolors'
import type { Plugin, ResolvedConfig as ViteConfig, Rolldown } from 'vite'
import { resolveConfig, type CspSealConfig, type ResolvedConfig } from '../../src/config.js'
import { allow, allowsSelf } from '../../src/csp/allow.js'
import { governingSources } from '../../src/csp/policy.js'
import { formatProblem, SealError, type Problem } from '../../src/problems.js'
import { sealBundle, type BundleResult } from '../../src/site/bundle.js'
import { isScriptFile } from '../../src/site/runtime-styles.js'
import { resolveUrl } from '../../src/seal/urls.js'
import { integrityAllowedBy } from '../../src/sri/integrity.js'
import { sealBuiltFolder } from '../frameworks/seal-folder.js'
import { devNonces } from './dev.js'
import { frameworkOf, watchSvelteKitAdapter, type AdapterOutput, type Framework } from './frameworks.js'
import { installPreviewServer } from './preview.js'
import { verifyWritten } from './verify.js'

export type { CspSealConfig } from '../../src/config.js'

type OutputBundle = Rolldown.OutputBundle
type OutputAsset = Rolldown.OutputAsset

/** What one output's sealing produced, kept until the files are on disk and checked. */
interface Sealed {
  dir: string
  result: BundleResult
  /** What must be on disk, by path: each sealed page, and each file as it was hashed for an integrity value. */
  expected: Map<string, Uint8Array>
  written: boolean
}

/**
 * The Vite plugin. Options are the same {@link CspSealConfig} as the CLI and `defineConfig`; `base` defaults to
 * Vite's `base` when that is a path.
 */
export function cspSeal(options: CspSealConfig = {}): Plugin {
  let vite: ViteConfig
  let config: ResolvedConfig
  // Keyed by output folder: one build may have several outputs and environments.
  const pending = new Map<string, Sealed>()
  const dev = devNonces(() => config)
  // Pages sealed by this build (every output): none at the end is said, never silent.
  let sealedPages = 0
  let framework: Framework | undefined
  let adapterOutput: AdapterOutput | undefined

  return {
    name: 'csp-seal',
    enforce: 'post',

    configResolved(resolved) {
      vite = resolved
      config = resolveOptions(options, resolved)
      if (resolved.command !== 'build') return
      framework = frameworkOf(resolved)
      if (framework?.refusal)
        throw new Error(
          failure(`cannot seal this ${framework.name} build (framework-html)`, [
            { code: 'framework-html', message: framework.refusal.reason, fix: framework.refusal.fix },
          ]),
        )
      // Vite 7 added this.meta.viteVersion; older Vites (VitePress 1.x runs Vite 5) are refused, not half-served.
      const version = (this as { meta?: { viteVersion?: string } } | undefined)?.meta?.viteVersion
      const major = version ? Number(version.split('.')[0]) : undefined
      if (major === undefined || major < 7) {
        throw new Error(
          failure('unsupported Vite version', [
            {
              code: 'vite-version',
              message: `csp-seal/vite supports Vite 7 and 8; this build runs Vite ${version ?? '6 or older'}`,
              fix: 'upgrade Vite; or seal the written folder after the build with `npx csp-seal <outDir>` (VitePress: csp-seal/vitepress)',
            },
          ]),
        )
      }
      if (framework?.name === 'SvelteKit' && resolved.build.ssr) {
        adapterOutput = { pages: new Set(), assets: new Set() }
        if (!watchSvelteKitAdapter(resolved, adapterOutput)) adapterOutput = undefined
      }
    },

    buildStart() {
      sealedPages = 0
    },

    generateBundle: {
      order: 'post',
      async handler(output, bundle) {
        const pages = Object.values(bundle).filter(isHtmlAsset)
        if (pages.length === 0) return
        sealedPages += pages.length
        const dir = output.dir ? resolve(output.dir) : output.file ? dirname(resolve(output.file)) : resolve(vite.root, vite.build.outDir)
        const readDisk = (path: string) =>
          readFile(join(dir, path)).then(
            (b) => new Uint8Array(b),
            () => undefined,
          )

        const expected = new Map<string, Uint8Array>()
        let result: BundleResult
        try {
          result = await sealBundle(
            pages.map((page) => ({ file: page.fileName, html: textOf(page.source) })),
            {
              config,
              // The final bytes: this bundle first, then files already in the output folder (public/, and outputs
              // written before this one, like @vitejs/plugin-legacy's legacy chunks).
              // The sealer reads each file once; a copy of the bytes it hashed is kept, to check the written
              // files against (a later plugin may still change the bundle's own).
              readAsset: async (path) => {
                const item = bundle[path]
                const bytes = item ? (item.type === 'chunk' ? bytesOf(item.code) : copyOf(item.source)) : await readDisk(path)
                if (bytes) expected.set(path, bytes)
                return bytes
              },
              // The lock file of remote integrity and the learned file live in the project, next to index.html.
              cwd: vite.root,
              // Its chunks and script assets, as Vite emits them (their bytes are not checked on disk for this).
              scripts: Object.values(bundle)
                .filter((item) => isScriptFile(item.fileName))
                .map((item) => ({ file: item.fileName, read: () => (item.type === 'chunk' ? item.code : textOf(item.source)) })),
              readExisting: async (file) => {
                const item = bundle[file]
                if (item?.type === 'asset') return textOf(item.source)
                return readFile(join(dir, file), 'utf8').catch(() => undefined)
              },
            },
          )
        } catch (error) {
          if (error instanceof SealError) this.error(failure('could not seal the build', error.problems))
          throw error
        }

        const blocked = runtimeChunkProblems(result, bundle, assetOrigin(vite)?.origin)
        const errors = blocked.filter((p) => p.code === 'runtime-chunks-blocked')
        if (errors.length) this.error(failure('the sealed pages would block the chunks Vite loads at run time', errors))
        result.warnings.push(...blocked.filter((p) => p.code !== 'runtime-chunks-blocked'), ...legacyProblems(result, vite), ...cspNonceProblems(vite))

        for (const page of result.pages) {
          // A string, as Vite emits HTML: later plugins may edit it as text.
          ;(bundle[page.file] as OutputAsset).source = page.html
          expected.set(page.file, page.bytes)
        }
        for (const [fileName, source] of result.files) {
          const existing = bundle[fileName]
          if (existing?.type === 'asset') existing.source = source
          else this.emitFile({ type: 'asset', fileName, source })
        }
        for (const warning of result.warnings) this.warn(formatProblem(warning))
        vite.logger.info(summary(result))
        pending.set(dir, { dir, result, expected, written: false })
      },
    },

    // After every other plugin's writeBundle (they run in parallel; `sequential` waits for them).
    writeBundle: {
      order: 'post',
      sequential: true,
      async handler(output) {
        const dir = output.dir ? resolve(output.dir) : output.file ? dirname(resolve(output.file)) : undefined
        const sealed = dir === undefined ? undefined : pending.get(dir)
        if (!sealed) return
        sealed.written = true
        await check(this, sealed)
      },
    },

    // Again once everything is closed: plugins that post-process the output folder often do it here.
    closeBundle: {
      order: 'post',
      sequential: true,
      async handler() {
        const written = [...pending.values()].filter((s) => s.written)
        pending.clear()
        for (const sealed of written) await check(this, sealed)
        if (vite.command !== 'build' || sealedPages > 0) return
        if (framework?.name === 'SvelteKit') {
          // SvelteKit's own closeBundle (the server build's) has run its adapter by now; the client build
          // (no pages of its own) leaves the sealing to it.
          if (vite.build.ssr) await sealSvelteKit(this)
          return
        }
        vite.logger.warn(pc.yellow(nothingSealed(vite)))
      },
    },

    configureServer(server) {
      dev.configureServer(server)
    },

    // Last among the HTML transforms, so every tag other plugins add gets the nonce.
    transformIndexHtml: {
      order: 'post',
      handler: (html, ctx) => dev.transformIndexHtml(html, ctx),
    },

    configurePreviewServer(server) {
      installPreviewServer(server, config)
    },
  }

  /** Seals the folder SvelteKit's adapter wrote its prerendered pages to, like the CLI does. */
  async function sealSvelteKit(context: { error(message: string): never }): Promise<void> {
    const out = adapterOutput
    const fail = (message: string, fix: string) => context.error(failure('could not seal the SvelteKit build', [{ code: 'framework-html', message, fix }]))
    if (!out)
      return fail(
        'SvelteKit has no adapter in this build, so nothing writes the pages',
        'add @sveltejs/adapter-static (kit.adapter), or run `npx csp-seal <folder>` on the folder your adapter writes',
      )
    const pages = [...out.pages]
    if (pages.length !== 1)
      return fail(
        `the adapter ${out.adapter ?? ''} wrote ${pages.length === 0 ? 'no prerendered pages' : `prerendered pages to ${pages.length} folders (${pages.join(', ')})`}`,
        'prerender the pages (export const prerender = true in the root +layout) with @sveltejs/adapter-static, or run `npx csp-seal <folder>` after the build',
      )
    const dir = pages[0]!
    const strays = [...out.assets].filter((a) => a !== dir)
    if (strays.length)
      return fail(
        `the adapter wrote its pages to ${dir} and the files they load to ${strays.join(', ')}; csp-seal seals one folder that holds both`,
        'give adapter-static the same pages and assets folder (its default)',
      )
    try {
      await sealBuiltFolder('SvelteKit', dir, config, { info: (m) => vite.logger.info(m), warn: (m) => vite.logger.warn(pc.yellow(m)) }, vite.root)
    } catch (error) {
      return context.error((error as Error).message)
    }
  }

  async function check(context: { error(message: string): never }, sealed: Sealed): Promise<void> {
    const problems = await verifyWritten(sealed.result, sealed.dir, sealed.expected)
    if (problems.length) {
      pending.delete(sealed.dir)
      context.error(failure(`the sealed build in ${sealed.dir} was changed after sealing; browsers would block what changed`, problems))
    }
  }
}

export default cspSeal

/** The csp-seal config for this Vite project: `base` follows Vite's when not given. */
function resolveOptions(options: CspSealConfig, vite: ViteConfig): ResolvedConfig {
  const assets = assetOrigin(vite)
  // A relative base ('./', '') gives relative URLs, which resolve without one; a full URL is mapped below.
  const base = options.base ?? (vite.base.startsWith('/') ? vite.base : '/')
  // A full-URL base: the pages load this build's files from that origin. They are the build's own files
  // (integrity from their bytes, never fetched), and the chunks Vite loads from there at run time are
  // allowed by that origin, as same-origin ones are by 'self'.
  const localUrls = assets ? { ...options.localUrls, [assets.prefix]: '' } : options.localUrls
  let config: ResolvedConfig
  try {
    config = resolveConfig({ ...options, base, ...(localUrls ? { localUrls } : {}) })
  } catch (error) {
    if (error instanceof SealError) throw new Error(failure('invalid options', error.problems), { cause: error })
    throw error
  }
  if (assets) {
    allow(config.policy, 'script', 'elem', [assets.origin])
    allow(config.policy, 'style', 'elem', [assets.origin])
  }
  return config
}

/** Vite's `base` when it is a full URL (`https://static.example.com/app/`): the origin and prefix the files load from. */
function assetOrigin(vite: ViteConfig): { origin: string; prefix: string } | undefined {
  if (vite.command !== 'build' || !/^https?:\/\//i.test(vite.base)) return undefined
  const url = new URL(vite.base)
  return { origin: url.origin, prefix: url.href.endsWith('/') ? url.href : `${url.href}/` }
}

/** The warning of a build that sealed nothing: why, and how to seal pages a later step writes. */
function nothingSealed(vite: ViteConfig): string {
  const outDir = resolve(vite.root, vite.build.outDir)
  const reason = vite.build.lib
    ? 'this is a library build (build.lib), which writes no page'
    : vite.build.ssr
      ? 'this is a server build (build.ssr), which writes no page'
      : 'the bundle holds no .html page (no index.html, no HTML in the build input)'
  return `csp-seal (sealed-nothing): sealed nothing: ${reason}. If a later step writes pages into ${outDir}, seal them after it: npx csp-seal ${outDir}`
}

function failure(what: string, problems: readonly Problem[]): string {
  return `csp-seal: ${what}:\n${problems.map((p) => `- ${formatProblem(p).replace(/\n/g, '\n  ')}`).join('\n')}`
}

function summary(result: BundleResult): string {
  const count = (key: 'scriptHashes' | 'styleHashes' | 'attributeHashes') => result.pages.reduce((n, p) => n + p[key].length, 0)
  const integrity = result.pages.reduce((n, p) => n + Object.keys(p.integrity).length, 0)
  const files = result.files.map(([name]) => name).join(', ')
  return (
    `${pc.green('csp-seal')} sealed ${result.pages.length} page${result.pages.length === 1 ? '' : 's'}: ` +
    `${count('scriptHashes')} script and ${count('styleHashes') + count('attributeHashes')} style hashes, ${integrity} integrity attributes` +
    `${result.runtimeStyles ? `, ${result.runtimeStyles.styles + result.runtimeStyles.styleAttributes} run-time style hashes (from ${result.runtimeStyles.files} scripts)` : ''}` +
    `${result.learned ? `, ${result.learned.styles + result.learned.scripts} learned hashes (${result.learned.file})` : ''}` +
    `${result.warnings.length ? `, ${pc.yellow(`${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'}`)}` : ''}` +
    `${files ? `; wrote ${files}` : ''}`
  )
}

/**
 * Vite loads chunks at run time that no page names: lazy `import()` chunks, their static imports, and the
 * `<link rel=modulepreload>` / stylesheet tags its preload helper adds. csp-seal allows them by origin
 * (`'self'`) or, under `'strict-dynamic'`, by the trust of the hashed entry. A page whose policy has
 * neither would break at run time: that is an error, named chunk by chunk (a warning where it may still work).
 */
function runtimeChunkProblems(result: BundleResult, bundle: OutputBundle, chunkOrigin: string | undefined): Problem[] {
  const problems: Problem[] = []
  for (const page of result.pages) {
    const policy = page.metaPolicy ?? page.policy
    const list = governingSources(policy, 'script-src-elem')
    // Chunks come from the page's origin, or from the origin of a full-URL base.
    const byOrigin = chunkOrigin ? list?.includes(chunkOrigin) : allowsSelf(policy, 'script-src-elem')
    if (list === undefined || byOrigin || list.includes("'strict-dynamic'")) continue
    // Chunks the page names: a <script src> whose integrity hash is in the policy runs; anything else
    // (a modulepreload, whatever those chunks import) needs an origin or 'strict-dynamic'.
    const roots = new Set<string>()
    const allowed = new Set<string>()
    for (const [url, integrity] of Object.entries(page.integrity)) {
      const target = resolveUrl(url, page.file, undefined, result.config.base, result.config.localUrls)
      if (target.kind !== 'local' || bundle[target.path]?.type !== 'chunk') continue
      roots.add(target.path)
      if (integrityAllowedBy(integrity, list)) allowed.add(target.path)
    }
    const loaded = new Set([...roots].filter((file) => !allowed.has(file)))
    const visit = (file: string) => {
      const chunk = bundle[file]
      if (chunk?.type !== 'chunk') return
      for (const next of [...chunk.imports, ...chunk.dynamicImports]) {
        if (loaded.has(next) || allowed.has(next) || bundle[next]?.type !== 'chunk') continue
        loaded.add(next)
        visit(next)
      }
    }
    for (const root of roots) visit(root)
    if (loaded.size === 0) continue
    const chunks = [...loaded].sort()
    const what = `${chunks.length === 1 ? 'a chunk' : `${chunks.length} chunks`} that Vite loads at run time (lazy import(), modulepreload, imports of the entry: ${chunks.join(', ')})`
    const where = "script-src, which has neither 'self' nor 'strict-dynamic'"
    const fix = "add 'self' to script-src (csp-seal's default), or 'strict-dynamic' (the hashed entry then vouches for its chunks)"
    // Not an error where the build cannot know: a host source the user wrote may be this site's origin; a
    // report-only policy blocks nothing; under the nonce runtime the entry's nonce passes on to every import.
    // Only the user's own host sources count: csp-seal itself adds CDN origins for remote files.
    const userList = governingSources(result.config.policy, 'script-src-elem') ?? []
    if (userList.some((s) => !s.startsWith("'")))
      problems.push({ code: 'runtime-chunks-origin', file: page.file, message: `${what} must be allowed by an origin in ${where}`, fix })
    else if (result.config.reportOnly)
      problems.push({ code: 'runtime-chunks-reported', file: page.file, message: `${what} would be reported by ${where}`, fix })
    else if (result.config.nonce)
      problems.push({
        code: 'runtime-chunks-nonce',
        file: page.file,
        message: `${what} ${chunks.length === 1 ? 'loads' : 'load'} only when the page is served with a nonce by csp-seal/server (or vite preview): the sealed file alone blocks them by ${where}`,
        fix,
      })
    else problems.push({ code: 'runtime-chunks-blocked', file: page.file, message: `${what} ${chunks.length === 1 ? 'is' : 'are'} blocked by ${where}`, fix })
  }
  return problems
}

/**
 * @vitejs/plugin-legacy: its inline scripts are hashed like any other, but its modern chunks start with
 * `import 'data:text/javascript,…'` (a feature check) and its legacy chunks inject `<style>` elements without a
 * nonce. A strict policy blocks both (tested in Chromium), so say so once, with what it costs to allow them.
 */
function legacyProblems(result: BundleResult, vite: ViteConfig): Problem[] {
  if (!vite.plugins.some((p) => p.name === 'vite:legacy-post-process')) return []
  const blocking = result.pages.filter((page) => {
    const list = governingSources(page.metaPolicy ?? page.policy, 'script-src-elem')
    return list !== undefined && !list.includes('data:')
  })
  if (blocking.length === 0) return []
  return [
    {
      code: 'plugin-legacy',
      message: `@vitejs/plugin-legacy's modern chunks import a data: URL to detect modern browsers, which script-src blocks (${blocking.map((p) => p.file).join(', ')}); browsers then fall back to the legacy chunks, whose CSS is injected as <style> elements that style-src blocks too`,
      fix: "drop @vitejs/plugin-legacy if you can; otherwise add data: to script-src (weak: it lets injected <script src=data:…> run), and 'unsafe-inline' to style-src-elem for legacy browsers",
    },
  ]
}

/**
 * Vite's `html.cspNonce` writes one fixed value into every built page (`nonce="…"` on tags and
 * `<meta property="csp-nonce">`), for a server that replaces it per response. csp-seal never needs it: the
 * sealed policy allows every tag by hash or origin and never contains that value.
 */
function cspNonceProblems(vite: ViteConfig): Problem[] {
  const value = vite.html?.cspNonce
  if (!value) return []
  return [
    {
      code: 'vite-csp-nonce',
      message: `html.cspNonce writes the fixed nonce "${value}" into every built page; a static host serves that same value on every response, and csp-seal's policy does not contain it (every tag is already allowed by hash or origin)`,
      fix: 'remove html.cspNonce; for per-response nonces (run-time <style> tags), set nonce: true and serve the build with csp-seal/server, which mints a fresh nonce per response',
    },
  ]
}

function isHtmlAsset(item: OutputBundle[string]): item is OutputAsset {
  return item.type === 'asset' && /\.html?$/i.test(item.fileName)
}

function textOf(source: string | Uint8Array): string {
  // ignoreBOM keeps a BOM in the text, so the page's bytes only change where sealing edits them.
  return typeof source === 'string' ? source : new TextDecoder('utf-8', { ignoreBOM: true }).decode(source)
}

function bytesOf(source: string): Uint8Array {
  return Buffer.from(source, 'utf8')
}

function copyOf(source: string | Uint8Array): Uint8Array {
  return typeof source === 'string' ? bytesOf(source) : new Uint8Array(source)
}
