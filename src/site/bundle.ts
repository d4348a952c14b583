import { pageFilter, toResolved, type CspSealConfig, type ResolvedConfig } from '../config.js'
import { evaluatorWarnings } from '../csp/evaluate.js'
import { serializePolicy } from '../csp/policy.js'
import { siteFiles, type ExistingReader } from '../output/files.js'
import { digestOf, manifestPage } from '../output/manifest.js'
import { SealError, type Problem } from '../problems.js'
import { cachedDigests } from '../sri/integrity.js'
import { RemoteIntegrity } from '../sri/remote.js'
import { readLearnedHashes, type LearnedHashes } from './learned.js'
import { sealPage, type AssetReader, type SealedPage } from '../seal/page.js'
import { runtimeStylesOf, type RuntimeStyleCounts, type ScriptSource } from './runtime-styles.js'
import { HashUnion } from './union.js'
import { verifyHtml } from '../seal/verify.js'

export interface BundleOptions {
  config: CspSealConfig | ResolvedConfig
  /** Final bytes of an emitted file by its path relative to the output root. */
  readAsset: AssetReader
  /** Existing content of `_headers` / `vercel.json` to merge into (default: none). */
  readExisting?: ExistingReader
  /** Folder the remote lock file, its cache and the learned file are relative to (default: the current folder). */
  cwd?: string
  /**
   * The build's scripts (`.js`, `.mjs`, `.cjs`, see {@link isScriptFile}), read for the inline styles they insert
   * at run time, as the CLI reads a site's (config `runtimeStyles`). Default: none.
   */
  scripts?: Iterable<ScriptSource>
}

export interface BundleResult {
  config: ResolvedConfig
  pages: SealedPage[]
  /** Manifest and header files to emit next to the pages, as [path, content]. */
  files: Array<[string, string]>
  warnings: Problem[]
  /** What reading the build's scripts found, when `runtimeStyles` is on and scripts were given. */
  runtimeStyles?: RuntimeStyleCounts
  /** What the learned file added, when there is one. */
  learned?: Omit<LearnedHashes, 'extra'>
}

/**
 * Seals the HTML pages of an in-memory build (a Vite bundle, a webpack compilation): the same plan
 * as {@link sealDirectory}, for adapters that own the writing. Throws a SealError listing every problem.
 */
export async function sealBundle(pages: Iterable<{ file: string; html: string }>, options: BundleOptions): Promise<BundleResult> {
  const config = toResolved(options.config)
  const digests = cachedDigests(options.readAsset)
  const remoteIntegrity = new RemoteIntegrity(config, options.cwd)
  const remote = (url: string) => remoteIntegrity.resolve(url)
  // As in a CLI run: the styles the build's scripts insert at run time and the learned hashes go on every page.
  const runtime = config.runtimeStyles && options.scripts ? runtimeStylesOf(options.scripts, config) : undefined
  const learned = readLearnedHashes(config, options.cwd)
  const union = new HashUnion()
  if (runtime) union.addHashes(runtime.extraHashes)
  if (learned) union.addHashes(learned.extra)
  const extraHashes = runtime || learned ? union.hashes() : undefined
  const sealed: SealedPage[] = []
  const errors: Problem[] = []
  const included = pageFilter(config)
  for (const { file, html } of pages) {
    if (!included(file)) continue
    try {
      sealed.push(await sealPage(html, { file, config, digests, remote, extraHashes }))
    } catch (error) {
      if (!(error instanceof SealError)) throw error
      errors.push(...error.problems.map((p) => ({ file, ...p })))
    }
  }
  if (errors.length) throw new SealError(errors)
  await remoteIntegrity.save()
  sealed.sort((a, b) => (a.file < b.file ? -1 : 1))
  const files = await siteFiles(
    sealed.map((page) => [page.file, manifestPage(page, config)]),
    config,
    options.readExisting ?? (async () => undefined),
  )
  const warnings = [
    ...(runtime?.warnings ?? []),
    ...sealed.flatMap((page) => page.warnings),
    ...evaluatorWarnings(sealed.map((page) => serializePolicy(page.policy))),
  ]
  return {
    config,
    pages: sealed,
    files,
    warnings,
    ...(runtime ? { runtimeStyles: runtime.counts } : {}),
    ...(learned ? { learned: { file: learned.file, styles: learned.styles, scripts: learned.scripts, scriptsLeftOut: learned.scriptsLeftOut } } : {}),
  }
}

/**
 * Checks pages and assets as written to disk against what sealing produced: every inline hash of a page
 * whose bytes changed, and every integrity attribute (an asset may change after sealing even when the page
 * did not). Each problem names the file, the element and the fix. `readWritten` gives a file on disk.
 */
export async function verifyBundle(result: BundleResult, readWritten: AssetReader): Promise<Problem[]> {
  const digests = cachedDigests(readWritten)
  const problems: Problem[] = []
  for (const page of result.pages) {
    const bytes = await readWritten(page.file)
    if (!bytes) {
      problems.push({ code: 'missing-page', file: page.file, message: 'the sealed page was not written' })
      continue
    }
    const changed = digestOf(bytes) !== digestOf(page.bytes)
    if (!changed && Object.keys(page.integrity).length === 0) continue
    const found = await verifyHtml(Buffer.from(bytes).toString('utf8'), {
      file: page.file,
      config: result.config,
      digests,
      policy: page.metaPolicy ?? page.policy,
    })
    if (found.length) problems.push(...found)
    else if (changed)
      problems.push({
        code: 'drift',
        file: page.file,
        message: 'the page changed after sealing (its manifest digest is stale), though every hash still matches',
        fix: 'run csp-seal after the step that rewrites it',
      })
  }
  return problems
}
