import { isUtf8 } from 'node:buffer'
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import type { Digests } from '../csp/hash.js'
import { digestOf, manifestPage, type ManifestPage } from '../output/manifest.js'
import { SealError, type Problem } from '../problems.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { sealPage } from './page.js'
import { verifyHtml } from './verify.js'

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
}

export interface PageStats {
  scriptHashes: number
  styleHashes: number
  attributeHashes: number
  integrity: number
  remote: string[]
}

export type FileOutcome =
  | { file: string; ok: true; changed: boolean; manifest: ManifestPage; stats: PageStats; warnings: Problem[]; drift: Problem[]; staged?: string }
  | { file: string; ok: false; problems: Problem[] }

/**
 * Reads, seals and (in write mode) stages pages: call the returned function once per page, several pages in
 * flight. Only small results leave it: the sealed HTML goes straight to the staging folder, so memory stays flat
 * however large the site. Pages are sealed one at a time (it is CPU work: interleaved pages would keep each
 * other's garbage alive across collections); the others in flight wait on remote files meanwhile.
 */
export function fileSealer(context: FileJobContext): (file: string, index: number) => Promise<FileOutcome> {
  let sealing: Promise<unknown> = Promise.resolve()
  return (file, index) => {
    const sealed = sealing.then(() => sealFile(file, index, context))
    sealing = sealed.catch(() => undefined)
    return sealed
  }
}

/**
 * One page: its outcome, with the sealed bytes staged if the page changed. The write is synchronous, like the
 * read: into the page cache it costs less than the thread pool round trips of an asynchronous one.
 */
async function sealFile(file: string, index: number, context: FileJobContext): Promise<FileOutcome> {
  const { outcome, write } = await planFile(file, context)
  if (!write || !outcome.ok) return outcome
  const staged = join(context.staging, stagedName(index))
  try {
    writeFileSync(staged, write)
  } catch (error) {
    return { file, ok: false, problems: [{ file, code: 'write-failed', message: `staging the sealed page failed: ${(error as Error).message}`, fix: 'check the free space and permissions of the site folder, then run again (nothing was changed)' }] }
  }
  return { ...outcome, staged }
}

/** Everything a {@link fileSealer} does for a page but the write: the outcome, and the bytes to stage if the page changed. */
async function planFile(file: string, context: FileJobContext): Promise<{ outcome: FileOutcome; write?: Uint8Array }> {
  const { root, config, mode, digests, remote } = context
  let source: string | undefined
  try {
    const bytes = readPage(join(root, file), file, config.maxPageBytes)
    source = decodeUtf8(bytes, file)
    const page = await sealPage(source, { file, config, digests, remote, bytes })
    const drift = mode === 'check' && page.changed ? await driftIn(source, file, context) : []
    // An unchanged page's bytes are the ones read.
    const sealed = page.changed ? page.bytes : bytes
    const manifest = manifestPage(page, config, digestOf(sealed))
    const stats = { scriptHashes: page.scriptHashes.length, styleHashes: page.styleHashes.length, attributeHashes: page.attributeHashes.length, integrity: Object.keys(page.integrity).length, remote: page.remote }
    return { outcome: { file, ok: true, changed: page.changed, manifest, stats, warnings: page.warnings, drift }, write: mode === 'write' && page.changed ? sealed : undefined }
  } catch (error) {
    const problems = (error instanceof SealError ? error.problems : [{ code: 'read-failed', message: (error as Error).message }]).map((p) => ({ file, ...p }))
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
  return found.length ? found : [{ code: 'unsealed', file, message: 'sealing would change the page (a tag lacks integrity, or the policy lacks a source)', fix: 'run csp-seal on the folder again' }]
}

/**
 * A page's bytes, refused above `limit` before they are read. Synchronous: from the page cache this is
 * cheaper than four round trips through the thread pool.
 */
function readPage(path: string, file: string, limit: number): Uint8Array {
  const fd = openSync(path, 'r')
  try {
    const { size } = fstatSync(fd)
    if (size > limit) {
      throw new SealError([{ code: 'page-too-large', file, message: `the page is ${size} bytes, over the ${limit}-byte limit`, fix: 'raise maxPageBytes if the page is really meant to be this large' }])
    }
    return readFileSync(fd)
  } finally {
    closeSync(fd)
  }
}

function decodeUtf8(bytes: Uint8Array, file: string): string {
  // isUtf8 then toString: both run at memory speed, several times faster than a fatal TextDecoder.
  if (!isUtf8(bytes)) {
    throw new SealError([{ code: 'not-utf8', file, message: 'the page is not valid UTF-8; CSP hashes are computed over UTF-8 text', fix: 'save the page as UTF-8 with <meta charset="utf-8">' }])
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
}
