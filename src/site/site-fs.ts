import { readdirSync, realpathSync, statSync, type Stats } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { describeFileSystemError, SealError, type Problem } from '../problems.js'
import { isInside, readRegularFile, RefusedFile } from '../safe-fs.js'

/** A page of the site: its path as served (site-relative, posix) and the real file it is read from and written to. */
export interface SitePage {
  file: string
  /** Real, absolute path: inside the site folder, with no symlink in it. */
  path: string
}

/** Staging folders of runs: never part of the site. */
export const STAGING_PREFIX = '.csp-seal-staging-'

/** File names a server sends as HTML, in any case (`.HTML` and `.Htm` too). */
const PAGE_NAME = /\.html?$/i

/** Folders that are not the site's pages even when a host would serve them: version control, packages, csp-seal's staging. */
export function skipped(name: string): boolean {
  return name === '.git' || name === 'node_modules' || name.startsWith(STAGING_PREFIX)
}

/** The real path of the site folder, or a SealError saying it is not one. */
export function siteRoot(dir: string): string {
  try {
    const real = realpathSync.native(dir)
    if (statSync(real).isDirectory()) return real
  } catch {
    // reported below
  }
  throw new SealError([{ code: 'no-site', message: `${dir} is not a folder`, fix: 'give the folder your build writes (e.g. dist)' }])
}

/**
 * Every page of the site: files named `*.html` / `*.htm` in any case, in every folder (dot-folders such as
 * `.well-known/` too: static hosts serve them), but not in `.git`, `node_modules` or csp-seal's staging folders.
 * Every page resolves to a real path inside the site folder: a symlink that leads outside it is not followed (a
 * warning says so), a symlink to a folder is not walked (each folder of the site is walked under its own path, so
 * no loop either), and a page reached through two paths is sealed once, under the path without links. FIFOs,
 * devices and sockets with a page's name are reported, never opened.
 */
export function findPages(root: string): { pages: SitePage[]; warnings: Problem[] } {
  const found: SitePage[] = []
  const warnings: Problem[] = []
  const links: Array<{ file: string; path: string; name: string }> = []
  const stack: Array<[string, string]> = [[root, '']]
  while (stack.length) {
    const [folder, prefix] = stack.pop()!
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const file = prefix ? `${prefix}/${entry.name}` : entry.name
      const path = join(folder, entry.name)
      if (entry.isDirectory()) {
        if (!skipped(entry.name)) stack.push([path, file])
      } else if (entry.isFile()) {
        if (PAGE_NAME.test(entry.name)) found.push({ file, path })
      } else if (entry.isSymbolicLink()) {
        links.push({ file, path, name: entry.name })
      } else if (PAGE_NAME.test(entry.name)) {
        warnings.push(notRegular(file))
      }
    }
  }
  // Links after every real folder, in path order: a page is then found first under its path without links. Every
  // folder inside the site has been walked by then (its real path is one without links), so a link to a folder is
  // an alias or a loop, and is not walked again.
  for (const link of links.sort((a, b) => (a.file < b.file ? -1 : 1))) {
    let real: string
    let stats: Stats
    try {
      real = realpathSync.native(link.path)
      stats = statSync(real)
    } catch (error) {
      // A dangling link serves nothing; a loop of links is worth a word.
      if ((error as NodeJS.ErrnoException).code === 'ELOOP')
        warnings.push({
          code: 'link-loop',
          file: link.file,
          message: 'is a symbolic link that loops; csp-seal does not follow it',
          fix: 'remove the looping link',
        })
      continue
    }
    if (real !== root && !isInside(root, real)) {
      if (PAGE_NAME.test(link.name) || stats.isDirectory()) {
        warnings.push({
          code: 'outside-site',
          file: link.file,
          message: `is a symbolic link to ${real}, outside the site folder: csp-seal does not follow it (nothing there is read or sealed)`,
          fix: 'copy what it links to into the site folder, or remove the link',
        })
      }
      continue
    }
    const target = relative(root, real).split(sep).join('/')
    if (target.split('/').some(skipped)) continue
    if (stats.isDirectory()) {
      warnings.push({
        code: 'linked-folder',
        file: link.file,
        message: `is a symbolic link to ${target ? `the folder ${target}` : 'the site folder itself'}: the pages in it are sealed once, under ${target ? `${target}/` : 'their own paths'} (header files name only those paths)`,
        fix: 'if servers serve them under both paths, give each path a copy of its own',
      })
    } else if (PAGE_NAME.test(link.name)) {
      if (stats.isFile()) found.push({ file: link.file, path: real })
      else warnings.push(notRegular(link.file))
    }
  }
  // A page reached through several paths is sealed once: under the first found (the path without links).
  const byPath = new Map<string, SitePage>()
  for (const page of found) {
    const first = byPath.get(page.path)
    if (!first) byPath.set(page.path, page)
    else
      warnings.push({
        code: 'page-alias',
        file: page.file,
        message: `is the same file as ${first.file} (through a symbolic link); it is sealed once, as ${first.file}`,
        fix: 'if servers serve it under both paths, give each path a copy of its own',
      })
  }
  const pages = [...byPath.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
  return { pages, warnings }
}

function notRegular(file: string): Problem {
  return {
    code: 'not-a-file',
    file,
    message: "has a page's name but is not a regular file (a FIFO, device or socket); csp-seal does not read it",
    fix: 'replace it with the page, or remove it',
  }
}

/**
 * Reads files of the site for integrity: the bytes, or undefined if there is no such file. Refuses
 * ({@link RefusedFile}) a path that resolves (through `..` or symlinks) outside the site, anything but a regular
 * file, a file over `limit` bytes, and a file the file system will not give.
 */
export function siteFileReader(root: string, limit: number): (path: string) => Promise<Uint8Array | undefined> {
  return async (path) => {
    const full = resolve(root, path)
    if (!isInside(root, full)) throw new RefusedFile('outside-site', 'leads above the site root')
    let real: string
    try {
      real = realpathSync.native(full)
    } catch (error) {
      return absentOrRefused(error)
    }
    if (!isInside(root, real)) throw new RefusedFile('outside-site', `is a link to ${real}`)
    try {
      return readRegularFile(real, limit)
    } catch (error) {
      if (error instanceof RefusedFile) throw error
      return absentOrRefused(error)
    }
  }
}

function absentOrRefused(error: unknown): undefined {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
  const what = describeFileSystemError(error)
  if (what === undefined) throw error
  throw new RefusedFile('unreadable', `cannot be read: ${what}`)
}

/**
 * Where a file csp-seal writes next to the pages (manifest, header files) lives: its real path inside the site
 * folder, and its current text if it exists. A link to a file outside the site is refused: it is neither read
 * nor replaced.
 */
export function siteOutput(root: string, file: string, limit: number): { path: string; existing?: string } {
  const full = resolve(root, file)
  let real: string
  try {
    real = realpathSync.native(full)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path: full }
    throw error
  }
  if (!isInside(root, real)) {
    throw new SealError([
      {
        code: 'outside-site',
        file,
        message: `is a symbolic link to ${real}, outside the site folder; csp-seal neither reads nor replaces it`,
        fix: 'remove the link (csp-seal writes the file itself), or point it inside the site folder',
      },
    ])
  }
  try {
    return { path: real, existing: readRegularFile(real, limit).toString('utf8') }
  } catch (error) {
    if (error instanceof RefusedFile)
      throw new SealError([
        { code: 'not-a-file', file, message: `csp-seal writes this file, and it ${error.message}`, fix: 'remove it; csp-seal writes it anew' },
      ])
    throw error
  }
}
