import { randomBytes } from 'node:crypto'
import { cp, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import { SealError } from '../problems.js'
import type { SealDirectoryOptions, SiteResult } from '../site/site.js'

/** A wrong `--out` folder: a usage error (exit 2), found before anything is copied. */
export class OutFolderError extends Error {}

/**
 * Seals a copy of `source` into `out`, never writing inside `source`: the copy is staged next to `out`, sealed
 * there, and renamed into place only if sealing succeeded, so `out` is the old folder or the new one, never a
 * half-written one. An existing `out` is replaced only when it is empty or holds a csp-seal manifest (an
 * earlier output); any other folder is the user's, and is refused.
 */
export async function sealInto(source: string, out: string, config: ResolvedConfig, options: SealDirectoryOptions): Promise<SiteResult> {
  const from = await realFolder(source)
  const target = resolve(out)
  const parent = await realpath(dirname(target)).catch(() => {
    throw new OutFolderError(`the parent folder of --out ${out} does not exist`)
  })
  const to = join(parent, basename(target))
  if (to === from || isWithin(from, to)) throw new OutFolderError(`--out ${out} is inside the site folder ${source}; choose a folder outside it`)
  if (isWithin(to, from)) throw new OutFolderError(`--out ${out} contains the site folder ${source}; replacing it would delete the site`)
  const existing = await previousOutput(to, config)
  const staging = join(parent, `.${basename(to)}.csp-seal-${randomBytes(6).toString('hex')}`)
  try {
    // Links are copied as they are: one that leads outside the site is refused in the copy as in place.
    await cp(from, staging, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false })
    const result = await (await import('../site/site.js')).sealDirectory(staging, config, { ...options, mode: 'write' })
    await replace(to, staging, existing)
    return { ...result, root: to }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/** What is at `out` now: nothing, an empty folder, or an earlier output (replaced whole). */
async function previousOutput(out: string, config: ResolvedConfig): Promise<'none' | 'empty' | 'output'> {
  const info = await stat(out).catch(() => undefined)
  if (!info) return 'none'
  if (!info.isDirectory()) throw new OutFolderError(`--out ${out} is a file, not a folder`)
  if ((await readdir(out)).length === 0) return 'empty'
  if (config.manifest && (await isManifest(join(out, config.manifest)))) return 'output'
  throw new OutFolderError(
    `--out ${out} already exists and is not an earlier csp-seal output (it holds no ${config.manifest || 'manifest'}); nothing was written. Remove it or choose another folder`,
  )
}

async function isManifest(path: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(path, 'utf8')) as { version?: unknown; pages?: unknown }
    return typeof manifest.version === 'number' && typeof manifest.pages === 'object' && manifest.pages !== null
  } catch {
    return false
  }
}

/** Puts the sealed copy at `out`: a rename, after moving an earlier output aside (and back, should the rename fail). */
async function replace(out: string, staged: string, existing: 'none' | 'empty' | 'output'): Promise<void> {
  if (existing === 'none') return rename(staged, out)
  const aside = `${staged}.old`
  await rename(out, aside)
  try {
    await rename(staged, out)
  } catch (error) {
    await rename(aside, out)
    throw error
  }
  await rm(aside, { recursive: true, force: true })
}

async function realFolder(dir: string): Promise<string> {
  try {
    const real = await realpath(dir)
    if ((await stat(real)).isDirectory()) return real
  } catch {
    // reported below
  }
  throw new SealError([{ code: 'no-site', message: `${dir} is not a folder`, fix: 'give the folder your build writes (e.g. dist)' }])
}

function isWithin(folder: string, path: string): boolean {
  const rel = relative(folder, path)
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep)
}
