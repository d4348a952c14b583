import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import { foldHashes, evaluatorWarnings } from '../csp/evaluate.js'
import { siteFileWriters } from '../output/files.js'
import { digestOf, type ManifestPage, type SiteFileWriter } from '../output/manifest.js'
import type { Problem } from '../problems.js'
import type { FileOutcome, PageStats, SiteMode } from './job.js'
import type { RuntimeStyleCounts } from './runtime-styles.js'
import { siteOutput, type SitePage } from './site-fs.js'

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
  /** What reading the site's scripts found (`runtimeStyles`), when it was on. */
  runtimeStyles?: RuntimeStyleCounts
  /** The framework detected from the build, and the scope the policies were made for (see {@link SiteScope}). */
  siteScope: SiteScope
  /** Hashes added from the learned file (`csp-seal crawl --learn`), when one was read. */
  learned?: { file: string; styles: number; scripts: number; scriptsLeftOut: number }
}

/** What detection found, and the scope chosen: the configured one, or for `auto` the one the framework needs. */
export interface SiteScope {
  /** The framework's name, undefined when none was recognised. */
  framework?: string
  scope: 'page' | 'site'
  /** What detection saw (a marker and the page it is in). */
  evidence: string
}

/** Where a problem was found. */
export type ProblemPlace = Pick<Problem, 'file' | 'line' | 'column'>

/** Staged pages: where each sealed copy waits, the real path it replaces, and the digest of what was staged. */
export interface StagedPages {
  files: string[]
  staged: string[]
  targets: string[]
  digests: string[]
}

/** A manifest or header file, written while pages are consumed. */
interface Output {
  file: string
  /** Its real path in the site (the rename target). */
  path: string
  writer: SiteFileWriter
  hash: ReturnType<typeof createHash>
  stream?: WriteStream
  existing?: string
  pending: string[]
  pendingLength: number
  error?: Error
}

/** Pages read ahead of the oldest unfinished one: bounds what waits in memory to be written in order. */
const WINDOW = 256
/** Characters of an output file (manifest, headers) gathered before they are written. */
const OUTPUT_CHUNK = 1 << 18

export interface CollectorOptions {
  keepManifest?: boolean
  onProgress?: (done: number, total: number) => void
}

/**
 * Takes page outcomes in any order and consumes them in path order: totals, warnings, and the manifest and
 * header files streamed into the staging folder (with a running digest, so an unchanged file is not rewritten).
 */
export class SiteCollector {
  next = 0
  private readonly buffer = new Map<number, FileOutcome>()
  private readonly advanced: Array<() => void> = []
  private readonly pages: PageSummary[] = []
  private readonly errors: Problem[] = []
  private readonly problems: Problem[] = []
  /** In check mode, pages that could not be planned (their problems are in `problems`). */
  private readonly failed: string[] = []
  private readonly warnings = new Map<string, Problem & { count?: number; examples?: ProblemPlace[] }>()
  private readonly staged: StagedPages = { files: [], staged: [], targets: [], digests: [] }
  /** Distinct policies, hashes folded (see evaluatorWarnings): a few, however many pages. */
  private readonly policies = new Set<string>()
  private readonly outputs: Output[] = []
  private failure: unknown

  constructor(
    private readonly root: string,
    private readonly staging: string,
    private readonly mode: SiteMode,
    private readonly config: ResolvedConfig,
    private readonly sitePages: readonly SitePage[],
    private readonly options: CollectorOptions,
    private readonly excluded = 0,
    private readonly siteScope: SiteScope = { scope: 'page', evidence: 'not detected' },
  ) {}

  /** Site-wide findings (from finding the pages), reported with the pages'. */
  note(warnings: readonly Problem[]): void {
    for (const warning of warnings) this.warn(warning)
  }

  async begin(): Promise<void> {
    for (const [file, writer] of siteFileWriters(
      this.config,
      this.sitePages.map((page) => page.file),
      this.siteScope.scope,
    )) {
      const { path, existing } = siteOutput(this.root, file, this.config.maxPageBytes)
      const output: Output = { file, path, writer, hash: createHash('sha256'), existing, pending: [], pendingLength: 0 }
      this.note(writer.warnings ?? [])
      this.outputs.push(output)
      if (this.mode === 'write') {
        output.stream = createWriteStream(join(this.staging, file))
        // Kept until the next write or the end: an error event with no listener would end the process.
        output.stream.on('error', (error) => (output.error ??= error))
      }
      await this.emit(output, writer.begin(existing))
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
      this.options.onProgress?.(this.next, this.sitePages.length)
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
      if (this.mode === 'check') this.failed.push(this.sitePages[this.next]!.file)
      return
    }
    const { changed, manifest, stats } = outcome
    // The site's own path string (a worker's outcome carries a copy), and one list for pages naming the same remote files.
    const page = this.sitePages[this.next]!
    this.pages.push({ file: page.file, changed, ...stats, remote: this.shared(stats.remote), ...(this.options.keepManifest ? { manifest } : {}) })
    this.policies.add(foldHashes(manifest.policy))
    for (const warning of outcome.warnings) this.warn(warning)
    this.problems.push(...outcome.drift)
    if (outcome.staged) {
      this.staged.files.push(page.file)
      this.staged.staged.push(outcome.staged)
      this.staged.targets.push(page.path)
      this.staged.digests.push(manifest.digest)
    }
    if (this.errors.length === 0) for (const output of this.outputs) await this.emit(output, output.writer.entry(page.file, manifest))
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
  private async emit(output: Output, text: string): Promise<void> {
    output.pending.push(text)
    output.pendingLength += text.length
    if (output.pendingLength >= OUTPUT_CHUNK) await this.flush(output)
  }

  private async flush(output: Output): Promise<void> {
    const text = output.pending.join('')
    output.pending = []
    output.pendingLength = 0
    output.hash.update(text)
    const stream = output.stream
    if (output.error) throw output.error
    // events.once removes its listeners whichever event comes, so no 'error' listener piles up per wait.
    if (stream && !stream.write(text)) await once(stream, 'drain')
  }

  async end() {
    if (this.failure !== undefined) throw this.failure
    const changedOutputs: Array<{ file: string; path: string }> = []
    // Files that describe the pages are compared only when every page checked out: a drifted page (or a changed
    // asset) is the cause to report, not the manifest that no longer matches it.
    const pagesDrifted = this.mode === 'check' && (this.problems.length > 0 || this.pages.some((p) => p.changed))
    for (const output of this.outputs) {
      if (this.errors.length === 0) await this.emit(output, output.writer.end())
      await this.flush(output)
      await this.closeStream(output)
      const unchanged = output.existing !== undefined && digestOf(output.existing) === `sha256-${output.hash.digest('base64')}`
      if (unchanged) continue
      changedOutputs.push({ file: output.file, path: output.path })
      if (this.mode === 'check' && !pagesDrifted)
        this.problems.push({
          code: 'stale-output',
          file: output.file,
          message: output.existing === undefined ? 'is missing' : 'differs from what csp-seal writes for these pages (edited by hand, or left by an older run)',
          fix: 'run csp-seal on the folder again',
        })
    }
    for (const warning of evaluatorWarnings(this.policies)) this.warn(warning)
    const unsealed = [...this.pages.filter((p) => p.changed).map((p) => p.file), ...this.failed].sort()
    const result: SiteResult = {
      root: this.root,
      pages: this.pages,
      written: [],
      unsealed,
      warnings: [...this.warnings.values()],
      problems: this.mode === 'check' ? this.problems : [],
      excluded: this.excluded,
      siteScope: this.siteScope,
    }
    return { result, errors: this.errors, pages: this.staged, changedOutputs }
  }

  private async closeStream(output: Output): Promise<void> {
    const stream = output.stream
    output.stream = undefined
    if (stream) await new Promise<void>((done, failed) => stream.end((error?: Error | null) => (error ? failed(error) : done())))
  }

  async close(): Promise<void> {
    for (const output of this.outputs) await this.closeStream(output).catch(() => undefined)
  }
}
