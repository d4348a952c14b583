import { isUtf8 } from 'node:buffer'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import type { ExtraHashes } from '../csp/inline.js'
import { digestOf, manifestPage, type ManifestPage } from '../output/manifest.js'
import { fileSystemProblem, SealError, type Problem } from '../problems.js'
import { readRegularFile, RefusedFile } from '../safe-fs.js'
import type { Digests } from '../sri/integrity.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { sealPage } from '../seal/page.js'
import type { SitePage } from './site-fs.js'
import { verifyHtml } from '../seal/verify.js'

export type SiteMode = 'write' | 'check' | 'dry-run'

/** What sealing one file of a site needs; the same on the main thread and in a worker. */
export interface FileJobContext {
  root: string
  /**
   * Folder this sealer writes sealed pages to before they are renamed into place. Each worker has its own:
   * threads creating files in one folder contend on its lock (measured: a file creation cost twice as much).
   */
  staging: string
  config: ResolvedConfig
  mode: SiteMode
  digests: (path: string) => Promise<Digests | undefined>
  remote: (url: string) => Promise<RemoteOutcome>
  /** Hashes every page of the site gets beyond its own inline code (see {@link ExtraHashes}). */
  extraHashes?: ExtraHashes
  /** Return each page's inline hashes by directive with its outcome (the first pass at site scope). */
  collectHashes?: boolean
  /** Element names of the site's Angular components, when it is an Angular build: the root gets a nonce slot. */
  angularRoots?: readonly string[]
}

export interface PageStats {
  scriptHashes: number
  styleHashes: number
  attributeHashes: number
  integrity: number
  remote: string[]
  /** Why the page was scanned from the tree, when the fast model did not follow it (the sealed page's `treeScan`). */
  treeScan?: string[]
}

export type FileOutcome =
  | {
      file: string
      ok: true
      changed: boolean
      manifest: ManifestPage
      stats: PageStats
      warnings: Problem[]
      drift: Problem[]
      staged?: string
      hashes?: Required<ExtraHashes>
    }
  | { file: string; ok: false; problems: Problem[] }

/**
 * Reads, seals and (in write mode) stages pages: call the returned function once per page, several pages in
 * flight. Only small results leave it: the sealed HTML goes straight to the staging folder, so memory stays flat
 * however large the site. Pages are sealed one at a time (it is CPU work: interleaved pages would keep each
 * other's garbage alive across collections); the others in flight wait on remote files meanwhile.
 */
export function fileSealer(context: FileJobContext): (page: SitePage, index: number) => Promise<FileOutcome> {
  let sealing: Promise<unknown> = Promise.resolve()
  return (page, index) => {
    const sealed = sealing.then(() => sealFile(page, index, context))
    sealing = sealed.catch(() => undefined)
    return sealed
  }
}

/**
 * One page: its outcome, with the sealed bytes staged if the page changed. The write is synchronous, like the
 * read: into the page cache it costs less than the thread pool round trips of an asynchronous one.
 */
async function sealFile(page: SitePage, index: number, context: FileJobContext): Promise<FileOutcome> {
  const { outcome, write } = await planFile(page, context)
  if (!write || !outcome.ok) return outcome
  const staged = join(context.staging, stagedName(index))
  try {
    writeFileSync(staged, write)
  } catch (error) {
    const problem = fileSystemProblem(error, page.file, 'staging the sealed page')
    if (!problem) throw error
    return { file: page.file, ok: false, problems: [{ ...problem, code: 'write-failed', fix: `${problem.fix} (nothing was changed)` }] }
  }
  return { ...outcome, staged }
}

/** Everything a {@link fileSealer} does for a page but the write: the outcome, and the bytes to stage if the page changed. */
async function planFile({ file, path }: SitePage, context: FileJobContext): Promise<{ outcome: FileOutcome; write?: Uint8Array }> {
  const { config, mode, digests, remote } = context
  let source: string | undefined
  try {
    const bytes = readPage(path, file, config.maxPageBytes)
    source = decodeUtf8(bytes, file)
    const page = await sealPage(source, { file, config, digests, remote, bytes, extraHashes: context.extraHashes, angularRoots: context.angularRoots })
    const drift = mode === 'check' && page.changed ? await driftIn(source, file, context) : []
    // An unchanged page's bytes are the ones read.
    const sealed = page.changed ? page.bytes : bytes
    const manifest = manifestPage(page, config, digestOf(sealed))
    const stats = {
      scriptHashes: page.scriptHashes.length,
      styleHashes: page.styleHashes.length,
      attributeHashes: page.attributeHashes.length,
      integrity: Object.keys(page.integrity).length,
      remote: page.remote,
      ...(page.treeScan.length ? { treeScan: page.treeScan } : {}),
    }
    const hashes = context.collectHashes
      ? { scripts: page.scriptHashes, styles: page.styleHashes, scriptAttributes: page.scriptAttributeHashes, styleAttributes: page.styleAttributeHashes }
      : undefined
    return {
      outcome: { file, ok: true, changed: page.changed, manifest, stats, warnings: page.warnings, drift, ...(hashes ? { hashes } : {}) },
      write: mode === 'write' && page.changed ? sealed : undefined,
    }
  } catch (error) {
    // Anything else is a defect of csp-seal: named with the page, so the run still lists every problem.
    const found: Problem[] =
      error instanceof SealError
        ? error.problems
        : [
            {
              code: 'internal-error',
              message: `csp-seal failed on this page: ${(error as Error).message}`,
              fix: 'this is a defect of csp-seal, not of the page: please report it, with the page',
            },
          ]
    const problems = found.map((p) => ({ file, ...p }))
    // A check reports what it finds element by element; a seal refuses to write anything.
    if (mode === 'check' && source !== undefined) return { outcome: { file, ok: false, problems: await driftIn(source, file, context, problems) } }
    return { outcome: { file, ok: false, problems } }
  }
}

/**
 * The staged copy of the site's `index`th page: a sealer's staging folder is flat, so no folder is created per
 * page and none is left to remove.
 */
export function stagedName(index: number): string {
  return `${index}.page`
}

/** What --check says of a page that sealing would change: each drifted element, else why it would change. */
async function driftIn(source: string, file: string, { config, digests }: FileJobContext, planProblems: Problem[] = []): Promise<Problem[]> {
  const drift = await verifyHtml(source, { file, config, digests })
  const other = planProblems.filter((p) => p.code !== 'integrity-mismatch' || drift.length === 0)
  const found = [...drift, ...other]
  return found.length
    ? found
    : [
        {
          code: 'unsealed',
          file,
          message: 'sealing would change the page (a tag lacks integrity, or the policy lacks a source)',
          fix: 'run csp-seal on the folder again',
        },
      ]
}

/** A page's bytes: only a regular file, refused above `limit` (checked on the open file, so nothing is read past it). */
function readPage(path: string, file: string, limit: number): Uint8Array {
  try {
    return readRegularFile(path, limit)
  } catch (error) {
    if (error instanceof RefusedFile) {
      const fix =
        error.reason === 'too-large' ? 'raise maxPageBytes if the page is really meant to be this large' : 'replace it with a regular file, or remove it'
      throw new SealError([{ code: error.reason === 'too-large' ? 'page-too-large' : 'not-a-file', file, message: `the page ${error.message}`, fix }])
    }
    const problem = fileSystemProblem(error, file, 'reading the page')
    if (problem) throw new SealError([problem])
    throw error
  }
}

function decodeUtf8(bytes: Uint8Array, file: string): string {
  // isUtf8 then toString: both run at memory speed, several times faster than a fatal TextDecoder.
  if (!isUtf8(bytes)) {
    throw new SealError([
      {
        code: 'not-utf8',
        file,
        message: 'the page is not valid UTF-8; CSP hashes are computed over UTF-8 text',
        fix: 'save the page as UTF-8 with <meta charset="utf-8">',
      },
    ])
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
}
