import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { nginxPageLocations, nginxRoutes, nginxSiteRules } from '../output/headers.js'
import { manifestPath, readManifest } from './manifest.js'
import { isInside } from '../safe-fs.js'
import { applyNonce } from './transform.js'

export const NGINX_NONCE_INCLUDE = 'csp-seal.nonce.nginx.conf'
const BUILD_PREFIX = 'build-'

export interface NginxNonceOptions {
  /** The sealed site folder, i.e. the web root nginx serves the other files from. */
  root: string
  /** A folder OUTSIDE the web root, readable by nginx: the template pages and the include go there. */
  out: string
  /** The manifest, relative to `root` or absolute. Default `csp-seal.json`. */
  manifest?: string
}

export interface NginxNonceResult {
  /** Absolute path of the include to put inside your `server { }` block (instead of csp-seal.nginx.conf). */
  include: string
  /** Absolute path of this build's template pages. */
  templates: string
  /** Site-relative paths of the pages written. */
  pages: string[]
}

/**
 * nginx nonce mode, without a nonce in any public file: writes a server-only copy of every sealed page
 * where each nonce slot holds an unguessable per-build placeholder, and an include whose locations serve
 * those copies with `sub_filter` swapping the placeholder for `$request_id` (128 random bits per request,
 * from OpenSSL's RAND_bytes in Debian's nginx), the same value in `'nonce-$request_id'` in the policy header,
 * and `Cache-Control: no-store` without validators.
 *
 * Each run writes a new `build-…` folder and then replaces the include, so a running nginx keeps serving the
 * previous build consistently until it reloads; older build folders are removed.
 */
export async function writeNginxNonceTemplates(options: NginxNonceOptions): Promise<NginxNonceResult> {
  const root = await realpath(resolve(options.root))
  const manifest = await readManifest(manifestPath(root, options.manifest))
  const insideRoot = (path: string) => [root, resolve(options.root)].some((web) => path === web || isInside(web, path))
  const refuse = () =>
    new Error(
      `--out ${options.out} is inside the web root ${options.root}: the templates hold the placeholder and must never be served as files; choose a folder outside it`,
    )
  if (insideRoot(resolve(options.out))) throw refuse()
  const created = await mkdir(resolve(options.out), { recursive: true })
  const out = await realpath(resolve(options.out))
  if (insideRoot(out)) {
    // Reached through a symlink: undo the folder this call created, then refuse.
    if (created) await rm(created, { recursive: true, force: true })
    throw refuse()
  }
  for (const path of [out, root])
    if (/[$"\\]/.test(path)) throw new Error(`${path}: nginx would read "$", '"' or "\\" in a path as syntax; use a path without them`)

  // Hex keeps it a valid nonce for the checks in applyNonce and a plain string for sub_filter.
  const placeholder = `cspseal${randomBytes(16).toString('hex')}`
  const previousBuild = await currentBuild(join(out, NGINX_NONCE_INCLUDE))
  const build = join(out, `${BUILD_PREFIX}${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`)
  const files = Object.keys(manifest.pages).sort()
  const blocks: string[] = nginxSiteRules(manifest.base, isAbsolute(options.manifest ?? '') ? false : (options.manifest ?? 'csp-seal.json'))
  const problems: string[] = []
  try {
    const routes = nginxRoutes(manifest.base, files)
    for (const file of files) {
      const page = manifest.pages[file]!
      if (/[$"\\]/.test(file) || file.split('/').some((s) => s === '..' || s === '')) {
        problems.push(`${file}: the file name cannot be written safely in an nginx config`)
        continue
      }
      const bytes = await readFile(join(root, ...file.split('/')))
      const templated = applyNonce(bytes, page, placeholder)
      if (templated.fallback) {
        problems.push(
          `${file}: ${templated.fallback === 'digest-mismatch' ? 'the file changed after sealing' : 'the nonce slots do not fit the file'}; run csp-seal on the folder again`,
        )
        continue
      }
      const target = join(build, ...file.split('/'))
      await mkdir(dirname(target), { recursive: true })
      await writeFile(target, templated.body)
      const headers: Record<string, string> = {}
      for (const name of Object.keys(page.headers)) {
        if (page.headers[name]!.includes('$')) problems.push(`${file}: the ${name} header contains "$", which nginx would read as a variable`)
        else headers[name] = templated.headers[name]!.split(placeholder).join('\0')
      }
      // $request_id is written after quoting: the page's own values hold no "$" (checked above).
      const text = nginxPageLocations(
        file,
        routes.get(file) ?? [],
        headers,
        [`    sub_filter "${placeholder}" "$request_id";`, '    sub_filter_once off;', '    etag off;', '    add_header Cache-Control "no-store" always;'],
        build,
      )
      blocks.push(text.replaceAll('\0', '$request_id').trimEnd())
    }
    if (problems.length) throw new Error(`nginx nonce templates not written:\n  ${problems.join('\n  ')}`)
  } catch (error) {
    await rm(build, { recursive: true, force: true })
    throw error
  }

  const include = join(out, NGINX_NONCE_INCLUDE)
  const text = [
    '# Generated by csp-seal (nginx nonce mode). Include inside your server { } block INSTEAD of csp-seal.nginx.conf.',
    '# Each page is served from a server-only template where a per-build placeholder marks the nonce slots;',
    '# sub_filter replaces it with $request_id, the nonce the header names. Regenerate after every build and reload.',
    '# add_header in these locations replaces add_header inherited from the server block: repeat any you need here.',
    `# build: ${build}`,
    ...blocks,
    '',
  ].join('\n')
  const temp = `${include}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(temp, text)
  await rename(temp, include)

  // The running nginx may still read the previous build until it reloads: keep that one, remove older ones.
  for (const entry of await readdir(out, { withFileTypes: true })) {
    const path = join(out, entry.name)
    if (entry.isDirectory() && entry.name.startsWith(BUILD_PREFIX) && path !== build && path !== previousBuild) {
      await rm(path, { recursive: true, force: true })
    }
  }
  return { include, templates: build, pages: files }
}

async function currentBuild(include: string): Promise<string | undefined> {
  const text = await readFile(include, 'utf8').catch(() => '')
  return /^# build: (.+)$/m.exec(text)?.[1]
}
