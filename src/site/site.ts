import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'
import { pageFilter, toResolved, type CspSealConfig, type ResolvedConfig } from '../config.js'
import { fileSystemProblem, SealError, type Problem } from '../problems.js'
import { isInside } from '../safe-fs.js'
import { cachedDigests } from '../sri/integrity.js'
import { RemoteIntegrity } from '../sri/remote.js'
import { SiteCollector, type SiteResult } from './collector.js'
import { chooseScope, detectFramework, samplePages } from './framework.js'
import { angularComponentSelectors } from './angular.js'
import type { FileJobContext, SiteMode } from './job.js'
import { runHere, runInWorkers } from './pool.js'
import { driftOf, renameAll } from './renames.js'
import { acquireRunLock, isStaleLockLeftover } from './run-lock.js'
import { readLearnedHashes } from './learned.js'
import { siteRuntimeStyles } from './runtime-styles.js'
import { findPages, siteFileReader, siteRoot, STAGING_PREFIX } from './site-fs.js'
import { HashUnion, largeUnionWarnings } from './union.js'

export type { PageSummary, ProblemPlace, SiteResult } from './collector.js'

export interface SealDirectoryOptions {
  /** `write` seals in place (default); `check` reports what is unsealed or drifted; `dry-run` plans only. */
  mode?: SiteMode
  /** Called after each page is planned (for progress displays). */
  onProgress?: (done: number, total: number) => void
  /** Folder the lock file and cache paths are relative to. Default: the current folder. */
  cwd?: string
  /** Worker threads: 1 seals on the calling thread. Default: one per core for sites of 1,000 pages or more (below that, warming up a parser in each worker costs about what the workers save). */
  workers?: number
  /** Keep every page's manifest entry in the result (for reports). Default false: memory stays flat. */
  keepManifest?: boolean
}

/** Pages from which sealDirectory uses worker threads by default. */
export const WORKER_THRESHOLD = 1000

/**
 * Seals every page under `dir` in place (see {@link findPages}: `.html`/`.htm` in any case, dot-folders too).
 * Every page is planned before anything is written; if any page fails, nothing in the folder changes and a
 * {@link SealError} lists every problem. Sealed pages and the manifest and header files are staged inside the
 * folder and renamed into place (each file is old or new, never half-written, and nothing outside the folder is
 * written); then the written pages are read back and checked. A run holds the folder's lock: a second run on
 * the same folder is refused. Every failure, file system errors included, is a SealError naming the file and the fix.
 */
export async function sealDirectory(dir: string, config: CspSealConfig | ResolvedConfig = {}, options: SealDirectoryOptions = {}): Promise<SiteResult> {
  const resolved = toResolved(config)
  const root = siteRoot(dir)
  try {
    return await sealRoot(root, resolved, options.mode ?? 'write', options)
  } catch (error) {
    if (error instanceof SealError) throw error
    const problem = fileSystemProblem(error, siteRelative(root, error), 'sealing the folder')
    if (!problem) throw error
    throw new SealError([problem])
  }
}

async function sealRoot(root: string, config: ResolvedConfig, mode: SiteMode, options: SealDirectoryOptions): Promise<SiteResult> {
  const lock = mode === 'write' ? lockSite(root) : undefined
  const staging = join(root, `${STAGING_PREFIX}${randomBytes(6).toString('hex')}`)
  // A check never touches the network: it holds the pages to the lock file.
  const remote = new RemoteIntegrity(config, options.cwd, mode === 'check')
  let collector: SiteCollector | undefined
  try {
    // Only with the lock held: another run's staging folder is never a leftover.
    if (mode === 'write') removeLeftovers(root)
    const { pages: found, warnings } = findPages(root)
    const included = pageFilter(config)
    const pages = found.filter((page) => included(page.file))
    // A wrong path must not pass: a folder with no page to seal is an error, and nothing is written.
    if (pages.length === 0) {
      throw new SealError([
        found.length
          ? {
              code: 'no-pages',
              message: `every page in ${root} is excluded (${found.length} by the exclude globs ${config.exclude.join(', ')})`,
              fix: 'check the exclude globs',
            }
          : {
              code: 'no-pages',
              message: `${root} holds no .html or .htm page`,
              fix: 'give the folder your build writes its pages to (e.g. dist), and run csp-seal after the build',
            },
      ])
    }
    // Hashes every page gets beyond its own inline code: the styles the site's scripts insert at run time (any
    // page may load any script) and what a crawl learned and the user committed. At site scope the union of every
    // page's own hashes joins them.
    const learned = readLearnedHashes(config, options.cwd)
    const runtime = config.runtimeStyles ? siteRuntimeStyles(root, config) : undefined
    const union = new HashUnion()
    if (runtime) union.addHashes(runtime.extraHashes)
    if (learned) union.addHashes(learned.extra)
    const detection = detectFramework(samplePages(found), found.length)
    const scope = chooseScope(config.scope, detection)
    // Angular takes the nonce for its run-time styles from its app root, which gets a slot the server runtime fills.
    const angularRoots = angularComponentSelectors(root, config.maxPageBytes)
    const context: FileJobContext = {
      root,
      staging,
      config,
      mode,
      angularRoots,
      digests: cachedDigests(siteFileReader(root, config.maxPageBytes)),
      remote: (url) => remote.resolve(url),
      extraHashes: runtime || learned ? union.hashes() : undefined,
    }
    const workers = options.workers ?? (pages.length >= WORKER_THRESHOLD ? availableParallelism() : 1)
    const scopeWarnings: Problem[] = []
    if (scope === 'site') {
      // First every page is planned without writing, for the union of the site's inline hashes; then the real
      // pass gives every page the union. Asset digests and remote pins are cached, so the first pass pays them.
      const first: FileJobContext = { ...context, mode: 'dry-run', collectHashes: true }
      await (workers > 1 ? runInWorkers(workers, pages, first, union) : runHere(pages, first, union))
      const siteHashes = union.hashes()
      context.extraHashes = siteHashes
      scopeWarnings.push(...largeUnionWarnings(siteHashes, pages.length))
    }
    const siteScope = { framework: detection.framework, scope, evidence: detection.evidence }
    collector = new SiteCollector(root, staging, mode, config, pages, options, found.length - pages.length, siteScope)
    collector.note([...(lock?.note ? [lock.note] : []), ...warnings, ...(runtime?.warnings ?? []), ...scopeWarnings])
    if (mode === 'write') mkdirSync(staging)
    await collector.begin()
    const run = workers > 1 ? runInWorkers(workers, pages, context, collector) : runHere(pages, context, collector)
    await run.then(
      () => undefined,
      (error) => collector!.fail(error),
    )
    const done = await collector.end()
    if (done.errors.length) throw new SealError(done.errors)
    if (runtime) done.result.runtimeStyles = runtime.counts
    if (learned) done.result.learned = { file: learned.file, styles: learned.styles, scripts: learned.scripts, scriptsLeftOut: learned.scriptsLeftOut }
    if (mode !== 'write') return done.result
    // Pages first, then the manifest and header files that describe them. Each page is read back as soon as it
    // is in place, while the next renames run.
    const staged = done.pages
    const drift: Problem[] = []
    await renameAll(
      staged.files.length,
      (i) => [staged.staged[i]!, staged.targets[i]!],
      (i) => {
        const problem = driftOf(staged.targets[i]!, staged.files[i]!, staged.digests[i]!)
        if (problem) drift.push(problem)
      },
    ).catch((error) => {
      throw interruptedRenames(error, root)
    })
    const outputs = done.changedOutputs
    await renameAll(outputs.length, (i) => [join(staging, outputs[i]!.file), outputs[i]!.path]).catch((error) => {
      throw interruptedRenames(error, root)
    })
    if (drift.length) throw new SealError(drift)
    const written = [...staged.files, ...outputs.map((output) => output.file)]
    const lockFile = await remote.save()
    return { ...done.result, written, lockFile }
  } finally {
    await collector?.close()
    rmSync(staging, { recursive: true, force: true })
    lock?.release()
  }
}

/** The site's run lock; a folder csp-seal cannot even create it in is said so, with the fix. */
function lockSite(root: string) {
  try {
    return acquireRunLock(root)
  } catch (error) {
    const problem = fileSystemProblem(error, undefined, `writing in the site folder ${root}`)
    if (problem) throw new SealError([problem])
    throw error
  }
}

/** A rename that failed midway: some pages are sealed, the rest as they were; the next run finishes the job. */
function interruptedRenames(error: unknown, root: string): unknown {
  const problem = fileSystemProblem(error, siteRelative(root, error), 'moving the sealed files into place')
  if (!problem) return error
  return new SealError([
    { ...problem, message: `${problem.message}; the files moved before it are sealed, the others are as they were, and the next run finishes the job` },
  ])
}

/** The site-relative path a file system error names (its destination, for a rename), if it is in the site. */
function siteRelative(root: string, error: unknown): string | undefined {
  const { dest, path } = error as { dest?: string; path?: string }
  const named = dest ?? path
  if (named === undefined) return undefined
  return named === root ? '.' : isInside(root, named) ? relative(root, named).split('\\').join('/') : named
}

/** Removes what a killed run left behind: staging folders (they hold nothing the site needs), a lock moved aside. */
function removeLeftovers(root: string): void {
  for (const entry of readdirSync(root)) {
    if (entry.startsWith(STAGING_PREFIX) || isStaleLockLeftover(entry)) rmSync(join(root, entry), { recursive: true, force: true })
  }
}
