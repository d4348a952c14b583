import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, readFileSync, realpathSync, statSync, type WriteStream } from 'node:fs'
import { mkdir, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join, relative, resolve, sep } from 'node:path'
import { Worker } from 'node:worker_threads'
import { glob } from 'tinyglobby'
import { pageFilter, type CspSealConfig, type ResolvedConfig } from '../config.js'
import { evaluatorWarnings, foldHashes } from '../csp/evaluate.js'
import { siteFileWriters } from '../output/files.js'
import type { SiteFileWriter } from '../output/headers.js'
import { digestOf, type ManifestPage } from '../output/manifest.js'
import { SealError, type Problem } from '../problems.js'
import { RemoteIntegrity } from '../sri/remote.js'
import { cachedDigests, toResolved } from './bundle.js'
import { fileSealer, type FileJobContext, type FileOutcome, type PageStats, type SiteMode } from './job.js'
import { OutsideSite } from './page.js'
import type { FromWorker, ToWorker, WorkerInit } from './worker.js'

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

export interface PageSummary extends PageStats {
  file: string
  changed: boolean
  /** The page's manifest entry, when `keepManifest` was set. */
  manifest?: ManifestPage
}

/** What a run did. */
export interface SiteResult {
  root: string
  pages: PageSummary[]
  /** Files written (site-relative), empty in check and dry-run modes. */
  written: string[]
  /** Pages whose bytes sealing would change (in check mode: the unsealed or drifted ones). */
  unsealed: string[]
  /** Warnings; the same finding on many pages is listed once with `count` and the first few places in `examples`. */
  warnings: Array<Problem & { count?: number; examples?: ProblemPlace[] }>
  /** In check mode, every drift found; otherwise empty (a failing run throws). */
  problems: Problem[]
  /** The lock file, when this run pinned new remote files in it. */
  lockFile?: string
  /** Pages the config's `exclude` globs left alone. */
  excluded: number
}

/** Where a problem was found. */
export type ProblemPlace = Pick<Problem, 'file' | 'line' | 'column'>

interface StagedPages {
  files: string[]
  /** Where each page's sealed copy waits. */
  paths: string[]
  digests: string[]
}

const PAGE_GLOB = ['**/*.html', '**/*.htm']
const IGNORE = ['**/node_modules/**']
/** Pages read ahead of the oldest unfinished one: bounds what waits in memory to be written in order. */
const WINDOW = 256
/** Pages from which sealDirectory uses worker threads by default. */
export const WORKER_THRESHOLD = 1000
const RENAMES_IN_FLIGHT = 16
/** Characters of an output file (manifest, headers) gathered before they are written. */
const OUTPUT_CHUNK = 1 << 18

/**
 * Seals every `.html`/`.htm` page under `dir` in place. Every page is planned before anything is written;
 * if any page fails, nothing in the folder changes and a {@link SealError} lists every problem.
 * Sealed pages and the manifest and header files are staged first and renamed into place (each file is
 * old or new, never half-written); then the written pages are read back and checked.
 */
export async function sealDirectory(dir: string, config: CspSealConfig | ResolvedConfig = {}, options: SealDirectoryOptions = {}): Promise<SiteResult> {
  const mode = options.mode ?? 'write'
  const resolved = toResolved(config)
  const root = await siteRoot(dir)
  const found = (await glob(PAGE_GLOB, { cwd: root, ignore: IGNORE, dot: false })).sort()
  const files = found.filter(pageFilter(resolved))
  // A wrong path must not pass: a folder with no page to seal is an error, and nothing is written.
  if (files.length === 0) {
    throw new SealError([found.length
      ? { code: 'no-pages', message: `every page in ${dir} is excluded (${found.length} by the exclude globs ${resolved.exclude.join(', ')})`, fix: 'check the exclude globs' }
      : { code: 'no-pages', message: `${dir} holds no .html or .htm page`, fix: 'give the folder your build writes its pages to (e.g. dist), and run csp-seal after the build' }])
  }
  const staging = join(root, `.csp-seal-staging-${randomBytes(6).toString('hex')}`)
  // A check never touches the network: it holds the pages to the lock file.
  const remote = new RemoteIntegrity(resolved, options.cwd, mode === 'check')
  const context: FileJobContext = {
    root, staging, config: resolved, mode,
    digests: cachedDigests((path) => readInside(root, path)),
    remote: (url) => remote.resolve(url),
  }
  const collector = new SiteCollector(root, staging, mode, resolved, files, options, found.length - files.length)
  try {
    if (mode === 'write') {
      await removeLeftovers(root)
      await mkdir(staging, { recursive: true })
    }
    await collector.begin()
    const workers = options.workers ?? (files.length >= WORKER_THRESHOLD ? availableParallelism() : 1)
    const run = workers > 1 ? runInWorkers(workers, files, context, collector) : runHere(files, context, collector)
    await run.then(() => undefined, (error) => collector.fail(error))
    const done = await collector.end()
    if (done.errors.length) throw new SealError(done.errors)
    if (mode !== 'write') return done.result
    // Pages first, then the manifest and header files that describe them.
    const { pages, changedOutputs } = done
    // Each page is read back as soon as it is in place, while the next renames run.
    const drift: Problem[] = []
    await renameAll(pages.files.length, (i) => [pages.paths[i]!, join(root, pages.files[i]!)], (i) => {
      const problem = driftOf(root, pages.files[i]!, pages.digests[i]!)
      if (problem) drift.push(problem)
    })
    await renameAll(changedOutputs.length, (i) => [join(staging, changedOutputs[i]!), join(root, changedOutputs[i]!)])
    if (drift.length) throw new SealError(drift)
    const written = [...pages.files, ...changedOutputs]
    const lockFile = await remote.save()
    return { ...done.result, written, lockFile }
  } finally {
    await collector.close()
    await rm(staging, { recursive: true, force: true })
  }
}

/**
 * Takes page outcomes in any order and consumes them in path order: totals, warnings, and the manifest and
 * header files streamed into the staging folder (with a running digest, so an unchanged file is not rewritten).
 */
class SiteCollector {
  next = 0
  private readonly buffer = new Map<number, FileOutcome>()
  private readonly advanced: Array<() => void> = []
  private readonly pages: PageSummary[] = []
  private readonly errors: Problem[] = []
  private readonly problems: Problem[] = []
  /** In check mode, pages that could not be planned (their problems are in `problems`). */
  private readonly failed: string[] = []
  private readonly warnings = new Map<string, Problem & { count?: number; examples?: ProblemPlace[] }>()
  /** Staged pages: their paths in the site and in staging, and the digests of what was staged. */
  private readonly staged: StagedPages = { files: [], paths: [], digests: [] }
  /** Distinct policies, hashes folded (see evaluatorWarnings): a few, however many pages. */
  private readonly policies = new Set<string>()
  private readonly outputs: Array<{ file: string; writer: SiteFileWriter; hash: ReturnType<typeof createHash>; stream?: WriteStream; existing?: string; pending: string[]; pendingLength: number }> = []
  private failure: unknown

  constructor(
    private readonly root: string,
    private readonly staging: string,
    private readonly mode: SiteMode,
    config: ResolvedConfig,
    private readonly files: string[],
    private readonly options: Pick<SealDirectoryOptions, 'keepManifest' | 'onProgress'>,
    private readonly excluded: number,
  ) {
    for (const [file, writer] of siteFileWriters(config, files)) this.outputs.push({ file, writer, hash: createHash('sha256'), pending: [], pendingLength: 0 })
  }

  async begin(): Promise<void> {
    for (const output of this.outputs) {
      output.existing = await readFile(join(this.root, output.file), 'utf8').catch(() => undefined)
      if (this.mode === 'write') output.stream = createWriteStream(join(this.staging, output.file))
      await this.emit(output, output.writer.begin(output.existing))
    }
  }

  /** Resolves once fewer than WINDOW pages are ahead of the oldest unfinished one. */
  async room(index: number): Promise<void> {
    while (index >= this.next + WINDOW && this.failure === undefined) await new Promise<void>((ready) => this.advanced.push(ready))
  }

  async add(index: number, outcome: FileOutcome): Promise<void> {
    this.buffer.set(index, outcome)
    while (this.buffer.has(this.next)) {
      const current = this.buffer.get(this.next)!
      this.buffer.delete(this.next)
      await this.consume(current)
      this.next++
      this.options.onProgress?.(this.next, this.files.length)
    }
    for (const ready of this.advanced.splice(0)) ready()
  }

  fail(error: unknown): void {
    this.failure = error
    for (const ready of this.advanced.splice(0)) ready()
  }

  private async consume(outcome: FileOutcome): Promise<void> {
    if (!outcome.ok) {
      ;(this.mode === 'check' ? this.problems : this.errors).push(...outcome.problems)
      if (this.mode === 'check') this.failed.push(this.files[this.next]!)
      return
    }
    const { changed, manifest, stats } = outcome
    // The site's own path string (a worker's outcome carries a copy), and one list for pages naming the same remote files.
    const file = this.files[this.next]!
    this.pages.push({ file, changed, ...stats, remote: this.shared(stats.remote), ...(this.options.keepManifest ? { manifest } : {}) })
    this.policies.add(foldHashes(manifest.policy))
    for (const warning of outcome.warnings) this.warn(warning)
    this.problems.push(...outcome.drift)
    if (outcome.staged) {
      this.staged.files.push(file)
      this.staged.paths.push(outcome.staged)
      this.staged.digests.push(manifest.digest)
    }
    if (this.errors.length === 0) for (const output of this.outputs) await this.emit(output, output.writer.entry(file, manifest))
  }

  private readonly remoteLists = new Map<string, string[]>()

  private shared(list: string[]): string[] {
    const key = list.join('\n')
    const seen = this.remoteLists.get(key)
    if (seen) return seen
    if (this.remoteLists.size >= 1024) this.remoteLists.clear()
    this.remoteLists.set(key, list)
    return list
  }

  private warn(warning: Problem): void {
    // One finding repeated on many pages (the same message) is kept once, counted.
    const key = `${warning.code}\0${warning.message}`
    const seen = this.warnings.get(key)
    const place = { file: warning.file, line: warning.line, column: warning.column }
    if (!seen) this.warnings.set(key, { ...warning, examples: [place] })
    else {
      seen.count = (seen.count ?? 1) + 1
      if (seen.examples!.length < 3) seen.examples!.push(place)
    }
  }

  /** Appends to an output file; written (and hashed) in chunks, since a write per page costs a thread pool round trip. */
  private async emit(output: (typeof this.outputs)[number], text: string): Promise<void> {
    output.pending.push(text)
    output.pendingLength += text.length
    if (output.pendingLength >= OUTPUT_CHUNK) await this.flush(output)
  }

  private async flush(output: (typeof this.outputs)[number]): Promise<void> {
    const text = output.pending.join('')
    output.pending = []
    output.pendingLength = 0
    output.hash.update(text)
    if (output.stream && !output.stream.write(text)) await new Promise<void>((drained) => output.stream!.once('drain', () => drained()))
  }

  async end() {
    if (this.failure !== undefined) throw this.failure
    const changedOutputs: string[] = []
    // Files that describe the pages are compared only when every page checked out: a drifted page (or a changed
    // asset) is the cause to report, not the manifest that no longer matches it.
    const pagesDrifted = this.mode === 'check' && (this.problems.length > 0 || this.pages.some((p) => p.changed))
    for (const output of this.outputs) {
      if (this.errors.length === 0) await this.emit(output, output.writer.end())
      await this.flush(output)
      await this.closeStream(output)
      const unchanged = output.existing !== undefined && digestOf(output.existing) === `sha256-${output.hash.digest('base64')}`
      if (unchanged) continue
      changedOutputs.push(output.file)
      if (this.mode === 'check' && !pagesDrifted) this.problems.push({ code: 'stale-output', file: output.file, message: output.existing === undefined ? 'is missing' : 'differs from what csp-seal writes for these pages (edited by hand, or left by an older run)', fix: 'run csp-seal on the folder again' })
    }
    for (const warning of evaluatorWarnings(this.policies)) this.warn(warning)
    const unsealed = [...this.pages.filter((p) => p.changed).map((p) => p.file), ...this.failed].sort()
    const result: SiteResult = { root: this.root, pages: this.pages, written: [], unsealed, warnings: [...this.warnings.values()], problems: this.mode === 'check' ? this.problems : [], excluded: this.excluded }
    return { result, errors: this.errors, pages: this.staged, changedOutputs }
  }

  private async closeStream(output: (typeof this.outputs)[number]): Promise<void> {
    const stream = output.stream
    output.stream = undefined
    if (stream) await new Promise<void>((done, failed) => stream.end((error?: Error | null) => (error ? failed(error) : done())))
  }

  async close(): Promise<void> {
    for (const output of this.outputs) await this.closeStream(output).catch(() => undefined)
  }
}

/** Seals on this thread, a few pages in flight to overlap file I/O. */
async function runHere(files: string[], context: FileJobContext, collector: SiteCollector): Promise<void> {
  const sealFile = fileSealer(context)
  let next = 0
  const lane = async () => {
    while (next < files.length) {
      const index = next++
      await collector.room(index)
      await collector.add(index, await sealFile(files[index]!, index))
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, files.length) }, lane))
}

/** Seals in worker threads; integrity and remote pins are answered here, so each is computed once per run. */
async function runInWorkers(count: number, files: string[], context: FileJobContext, collector: SiteCollector): Promise<void> {
  const workers = Array.from({ length: Math.min(count, files.length) }, (_, n) => {
    const staging = join(context.staging, `worker-${n}`)
    if (context.mode === 'write') mkdirSync(staging)
    return new Worker(workerUrl(), { workerData: { root: context.root, staging, config: context.config, mode: context.mode } satisfies WorkerInit })
  })
  let next = 0
  let finished = 0
  try {
    await new Promise<void>((resolveAll, rejectAll) => {
      const feed = async (worker: Worker) => {
        if (next >= files.length) return
        const index = next++
        await collector.room(index)
        worker.postMessage({ type: 'page', index, file: files[index]! } satisfies ToWorker)
      }
      for (const worker of workers) {
        worker.on('error', rejectAll)
        worker.on('message', (message: FromWorker) => {
          if (message.type === 'ask') {
            const answer = message.what === 'digests' ? context.digests(message.key) : context.remote(message.key)
            answer.then(
              (value) => worker.postMessage({ type: 'answer', id: message.id, value } satisfies ToWorker),
              (error) => (error instanceof OutsideSite ? worker.postMessage({ type: 'answer', id: message.id, outside: error.message } satisfies ToWorker) : rejectAll(error)),
            )
            return
          }
          collector.add(message.index, message.outcome).then(() => {
            if (++finished === files.length) resolveAll()
            else return feed(worker)
          }).catch(rejectAll)
        })
        // A few pages per worker in flight, so reading files overlaps with parsing.
        for (let i = 0; i < 4; i++) void feed(worker).catch(rejectAll)
      }
      if (files.length === 0) resolveAll()
    })
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
}

/** The worker module; from TypeScript sources (tests) the built one, since workers load plain JavaScript. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../../dist/src/seal/worker.js', import.meta.url) : new URL('./worker.js', import.meta.url)
}

/**
 * Moves staged files into place, several renames in flight (each is atomic, so the order does not matter).
 * After a failure no new rename starts; the ones in flight finish before the error is thrown.
 */
async function renameAll(count: number, move: (i: number) => [string, string], moved: (i: number) => void = () => {}): Promise<void> {
  let next = 0
  let failure: { error: unknown } | undefined
  const lane = async () => {
    while (next < count && !failure) {
      const i = next++
      const [from, to] = move(i)
      try {
        await rename(from, to)
        moved(i)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(RENAMES_IN_FLIGHT, count) }, lane))
  if (failure) throw failure.error
}

/**
 * Reads back a page as written and compares digests: catches anything that changed the files under us.
 * A synchronous read: the page was just written, so it comes from the page cache.
 */
function driftOf(root: string, file: string, digest: string): Problem | undefined {
  if (digestOf(readFileSync(join(root, file))) === digest) return undefined
  return { code: 'drift', file, message: 'the file changed after csp-seal wrote it; its hashes no longer match', fix: 'make sure nothing else writes to the folder while csp-seal runs, then run it again' }
}

/**
 * Reads a file of the site; refuses anything that resolves (through `..` or symlinks) outside the root.
 * Synchronous, like page reads: the site's files come from the page cache, and planning waits for them anyway.
 */
async function readInside(root: string, path: string): Promise<Uint8Array | undefined> {
  const full = resolve(root, path)
  if (!isInside(root, full)) throw new OutsideSite('a path above the site root')
  let real: string
  try {
    real = realpathSync.native(full)
    if (!statSync(real).isFile()) return undefined
  } catch {
    return undefined
  }
  if (!isInside(root, real)) throw new OutsideSite(`a link to ${real}`)
  return readFileSync(real)
}

/** Removes staging folders a killed run left behind (they hold nothing the site needs). */
async function removeLeftovers(root: string): Promise<void> {
  for (const entry of await readdir(root)) if (entry.startsWith('.csp-seal-staging-')) await rm(join(root, entry), { recursive: true, force: true })
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep)
}

async function siteRoot(dir: string): Promise<string> {
  try {
    const real = await realpath(dir)
    if ((await stat(real)).isDirectory()) return real
  } catch {
    // reported below
  }
  throw new SealError([{ code: 'no-site', message: `${dir} is not a folder`, fix: 'give the folder your build writes (e.g. dist)' }])
}
