import { randomBytes } from 'node:crypto'
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { glob } from 'tinyglobby'
import type { CspSealConfig, ResolvedConfig } from '../config.js'
import { evaluatorWarnings } from '../csp/evaluate.js'
import { siteFiles } from '../output/files.js'
import { digestOf, manifestPage, type ManifestPage } from '../output/manifest.js'
import { SealError, type Problem } from '../problems.js'
import { cachedIntegrity, toResolved } from './bundle.js'
import { RemoteIntegrity } from '../sri/remote.js'
import { sealPage, type SealedPage } from './page.js'
import { verifyHtml } from './verify.js'

export interface SealDirectoryOptions {
  /** `write` seals in place (default); `check` reports what is unsealed or drifted; `dry-run` plans only. */
  mode?: 'write' | 'check' | 'dry-run'
  /** Called after each page is planned (for progress displays). */
  onProgress?: (done: number, total: number) => void
  /** Folder the lock file and cache paths are relative to. Default: the current folder. */
  cwd?: string
}

/** What a run did, page by page. Pages are summaries: the sealed HTML itself is on disk. */
export interface SiteResult {
  root: string
  pages: Array<Omit<SealedPage, 'html'>>
  /** Files written (site-relative), empty in check and dry-run modes. */
  written: string[]
  /** Pages whose bytes sealing would change (in check mode: the unsealed or drifted ones). */
  unsealed: string[]
  warnings: Problem[]
  /** In check mode, every drift found; otherwise empty (a failing run throws). */
  problems: Problem[]
  /** The lock file, when this run pinned new remote files in it. */
  lockFile?: string
}

const PAGE_GLOB = ['**/*.html', '**/*.htm']
const IGNORE = ['**/node_modules/**']
const CONCURRENCY = 8

/**
 * Seals every `.html`/`.htm` page under `dir` in place. Every page is planned before anything is written;
 * if any page fails, nothing in the folder changes and a {@link SealError} lists every problem.
 * Written pages go to a staging folder first and are renamed into place (each file is old or new, never
 * half-written); the manifest and header files follow, then the written files are read back and checked.
 */
export async function sealDirectory(dir: string, config: CspSealConfig | ResolvedConfig = {}, options: SealDirectoryOptions = {}): Promise<SiteResult> {
  const mode = options.mode ?? 'write'
  const resolved = toResolved(config)
  const root = await siteRoot(dir)
  const files = (await glob(PAGE_GLOB, { cwd: root, ignore: IGNORE, dot: false })).sort()
  const integrity = cachedIntegrity((path) => readInside(root, path), resolved)
  const staging = join(root, `.csp-seal-staging-${randomBytes(6).toString('hex')}`)
  // A check never touches the network: it holds the pages to the lock file.
  const remoteIntegrity = new RemoteIntegrity(resolved, options.cwd, mode === 'check')
  const remote = (url: string) => remoteIntegrity.resolve(url)

  const errors: Problem[] = []
  const warnings: Problem[] = []
  const pages: SiteResult['pages'] = []
  const manifestPages: Array<[string, ManifestPage]> = []
  const staged: Array<{ file: string; digest: string }> = []
  const unsealed: string[] = []
  const checkProblems: Problem[] = []
  let done = 0
  // What --check says of a page that sealing would change: each drifted element, else why it would change.
  const driftIn = async (source: string, file: string, planProblems: Problem[] = []): Promise<Problem[]> => {
    const drift = await verifyHtml(source, { file, config: resolved, integrity })
    const other = planProblems.filter((p) => p.code !== 'integrity-mismatch' || drift.length === 0)
    const found = [...drift, ...other]
    return found.length ? found : [{ code: 'unsealed', file, message: 'sealing would change the page (a tag lacks integrity, or the policy lacks a source)', fix: 'run csp-seal on the folder again' }]
  }
  try {
    await forEachLimited(files, CONCURRENCY, async (file) => {
      let source: string | undefined
      try {
        source = decodeUtf8(await readFile(join(root, file)), file)
        const page = await sealPage(source, { file, config: resolved, integrity, remote })
        const { html, ...summary } = page
        pages.push(summary)
        warnings.push(...page.warnings)
        manifestPages.push([file, manifestPage(page, resolved)])
        if (page.changed) {
          unsealed.push(file)
          if (mode === 'check') checkProblems.push(...(await driftIn(source, file)))
          if (mode === 'write') {
            const target = join(staging, file)
            await mkdir(dirname(target), { recursive: true })
            await writeFile(target, html)
            staged.push({ file, digest: digestOf(html) })
          }
        }
      } catch (error) {
        const problems = (error instanceof SealError ? error.problems : [{ code: 'read-failed', message: (error as Error).message }]).map((p) => ({ file, ...p }))
        // A seal refuses to write anything; a check reports what it finds, element by element.
        if (mode !== 'check') errors.push(...problems)
        else checkProblems.push(...(source === undefined ? problems : await driftIn(source, file, problems)))
      }
      options.onProgress?.(++done, files.length)
    })
    if (errors.length) throw new SealError(errors)

    pages.sort((a, b) => (a.file < b.file ? -1 : 1))
    unsealed.sort()
    warnings.push(...evaluatorWarnings(manifestPages.map(([, page]) => page.policy)))
    const outputs = await siteFiles(manifestPages, resolved, (file) => readFile(join(root, file), 'utf8').catch(() => undefined))
    if (mode === 'check') {
      const problems = checkProblems.sort((a, b) => (a.file! < b.file! ? -1 : a.file! > b.file! ? 1 : 0))
      for (const [file, content] of outputs) {
        const current = await readFile(join(root, file), 'utf8').catch(() => undefined)
        if (current !== content) problems.push({ code: 'stale-output', file, message: current === undefined ? 'is missing' : 'is out of date with the pages', fix: 'run csp-seal on the folder again' })
      }
      return { root, pages, written: [], unsealed, warnings, problems }
    }
    if (mode === 'dry-run') return { root, pages, written: [], unsealed, warnings, problems: [] }

    const written: string[] = []
    for (const { file } of staged) {
      await rename(join(staging, file), join(root, file))
      written.push(file)
    }
    for (const [file, content] of outputs) {
      const current = await readFile(join(root, file), 'utf8').catch(() => undefined)
      if (current === content) continue
      await writeAtomic(join(root, file), content)
      written.push(file)
    }
    await verifyWritten(root, staged)
    const lockFile = await remoteIntegrity.save()
    return { root, pages, written, unsealed, warnings, problems: [], lockFile }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/** Reads back what was written and compares digests: catches anything that changed the files under us. */
async function verifyWritten(root: string, staged: Array<{ file: string; digest: string }>): Promise<void> {
  const drift: Problem[] = []
  for (const { file, digest } of staged) {
    const actual = digestOf(await readFile(join(root, file)))
    if (actual !== digest) drift.push({ code: 'drift', file, message: 'the file changed after csp-seal wrote it; its hashes no longer match', fix: 'make sure nothing else writes to the folder while csp-seal runs, then run it again' })
  }
  if (drift.length) throw new SealError(drift)
}

/** Reads a file of the site; refuses anything that resolves (through `..` or symlinks) outside the root. */
async function readInside(root: string, path: string): Promise<Uint8Array | undefined> {
  const full = resolve(root, path)
  if (!isInside(root, full)) return undefined
  let real: string
  try {
    real = await realpath(full)
    if (!(await stat(real)).isFile()) return undefined
  } catch {
    return undefined
  }
  if (!isInside(root, real)) return undefined
  return readFile(real)
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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new SealError([{ code: 'not-utf8', file, message: 'the page is not valid UTF-8; CSP hashes are computed over UTF-8 text', fix: 'save the page as UTF-8 with <meta charset="utf-8">' }])
  }
}

async function writeAtomic(path: string, content: string): Promise<void> {
  const temp = `${path}.csp-seal-${randomBytes(6).toString('hex')}.tmp`
  await writeFile(temp, content)
  await rename(temp, path)
}

async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await task(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
