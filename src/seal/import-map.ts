/**
 * What inline module scripts import, under `'strict-dynamic'`.
 *
 * A module script that the HTML parser inserted fetches its imports as parser-inserted too (the HTML standard's
 * descendant script fetch options). `'strict-dynamic'` ignores `'self'` and host sources and vouches only for
 * scripts that other scripts insert, so Chromium and Firefox allow such an import only by a nonce passed down from
 * the importing script, or by a hash matched against the import's integrity metadata, which an import does not
 * have (an import map's `"integrity"` does not count for this). A hash-allowed inline module therefore loads
 * nothing it imports, through the import map or by URL. WebKit lets those imports load.
 *
 * The sealed output adds, for each such import, a `<link rel=modulepreload>` with `integrity`, whose hash goes
 * into `script-src`: the preload is allowed by its hash, puts the module into the module map, and the import finds
 * it there; what that module imports in turn inherits the preload's trust. The link goes right before the first
 * module script that imports it, so after the import map that script uses: Firefox drops an import map that
 * comes after a modulepreload. (Measured in Chromium, Firefox and WebKit: test/engines-import-map.test.ts.)
 *
 * `import("…")` in an inline script is blocked the same way; preloading it would fetch it on every visit, so it
 * is reported instead, unless the page already preloads it.
 *
 * {@link findModulePreloads} is pure: scan and policy in, what to preload out. {@link sealModulePreloads} adds
 * the integrity (local files by digest, remote files pinned like any CDN file) and gives the edits.
 */
import { initSync, parse as parseImports } from 'es-module-lexer'
import type { ResolvedConfig } from '../config.js'
import { governingSources, type Policy } from '../csp/policy.js'
import type { InlineCode, Scan, Tag } from '../html/scan.js'
import type { Problem } from '../problems.js'
import { integritySources, type Digests } from '../sri/integrity.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { resolveUrl, type UrlTarget } from './urls.js'

/** Stands for the site's own origin while resolving (never written out). */
const SITE = 'https://csp-seal.invalid'

export interface ModulePreload {
  /** The URL as the link's `href` (root-relative on the site's own origin, absolute elsewhere). */
  href: string
  target: Extract<UrlTarget, { kind: 'local' | 'remote' }>
  /** The specifier as written in the first module that imports it. */
  specifier: string
  /** That module's `<script>` tag: the link is inserted right before it. */
  importer: Tag
}

/** An `import("…")` that the policy blocks, reported with where it is. */
export interface BlockedDynamicImport {
  specifier: string
  /** What it resolves to, as a link's `href` would name it. */
  href: string
  script: Tag
}

/** What the inline module scripts of a page need preloaded, and the dynamic imports that will not load. */
export function findModulePreloads(
  scan: Scan,
  policy: Policy,
  file: string,
  config: ResolvedConfig,
): { preloads: ModulePreload[]; dynamic: BlockedDynamicImport[] } {
  const preloads: ModulePreload[] = []
  const dynamic: BlockedDynamicImport[] = []
  if (!governingSources(policy, 'script-src-elem')?.includes("'strict-dynamic'")) return { preloads, dynamic }

  const documentBase = documentBaseOf(file, scan.baseHref, config.base)
  if (!documentBase) return { preloads, dynamic }
  const resolvedHref = (url: string) => {
    try {
      return new URL(url, documentBase).href
    } catch {
      return undefined
    }
  }
  // Modulepreloads the page has already: the offsets where they are, by URL.
  const preloaded = new Map<string, number>()
  for (const ref of scan.external) {
    const href = ref.rel === 'modulepreload' && ref.tag.context === 'document' ? resolvedHref(ref.url) : undefined
    if (href && !preloaded.has(href)) preloaded.set(href, ref.tag.start)
  }

  const maps: ImportMap[] = []
  const planned = new Set<string>()
  for (const code of scan.inline) {
    if (code.element !== 'script' || code.tag.context !== 'document' || !code.tag.editable) continue
    if (code.type === 'importmap') {
      const map = parseImportMap(code.text, documentBase)
      if (map) maps.push(map)
      continue
    }
    if (code.type !== 'module' && code.type !== 'classic') continue
    const merged = mergeImportMaps(maps)
    for (const { specifier, isDynamic } of importsOf(code)) {
      // A classic script can only import() (a static import there is a syntax error the browser reports).
      if (!isDynamic && code.type !== 'module') continue
      const url = resolveSpecifier(specifier, documentBase, merged)
      if (!url) continue // unmapped bare specifier: the browser fails it whatever the policy says
      const href = url.origin === SITE ? url.pathname + url.search + url.hash : url.href
      const before = (offset: number | undefined) => offset !== undefined && offset < code.tag.start
      if (before(preloaded.get(url.href)) || planned.has(url.href)) continue
      if (isDynamic) {
        dynamic.push({ specifier, href, script: code.tag })
        continue
      }
      const target = resolveUrl(href, file, url.origin === SITE ? undefined : scan.baseHref, config.base, config.localUrls)
      if (target.kind === 'unsupported') continue // data:, blob: and the like: not something a preload can pin
      planned.add(url.href)
      preloads.push({ href, target, specifier, importer: code.tag })
    }
  }
  return { preloads, dynamic }
}

export interface PreloadContext {
  file: string
  config: ResolvedConfig
  digests: (path: string) => Promise<Digests | undefined>
  remote?: (url: string) => Promise<RemoteOutcome>
  /** Where a tag is, for messages. */
  locate: (tag: Tag) => Pick<Problem, 'file' | 'line' | 'column' | 'element'>
}

export interface SealedPreloads {
  /** Text to insert at an offset of the page. */
  edits: Array<{ start: number; end: number; text: string }>
  /** Hash sources for script-src (the integrity of each preload). */
  scriptHashes: string[]
  errors: Problem[]
  warnings: Problem[]
}

/** The `<link rel=modulepreload integrity>` tags {@link findModulePreloads} asks for, and their hashes. */
export async function sealModulePreloads(scan: Scan, policy: Policy, context: PreloadContext): Promise<SealedPreloads> {
  const { file, config, digests, remote, locate } = context
  const out: SealedPreloads = { edits: [], scriptHashes: [], errors: [], warnings: [] }
  const { preloads, dynamic } = findModulePreloads(scan, policy, file, config)
  for (const { specifier, href, script } of dynamic) {
    out.warnings.push({
      code: 'strict-dynamic-import',
      message: `import("${specifier}") in this inline script is blocked by Chromium and Firefox under 'strict-dynamic': a script the HTML parser inserted passes no trust on to what it imports`,
      ...locate(script),
      fix: `import it statically (csp-seal then preloads it with integrity), or add <link rel="modulepreload" href="${href}"> before the script (csp-seal pins it)`,
    })
  }
  for (const preload of preloads) {
    const where = locate(preload.importer)
    const unpinned = (why: string) =>
      out.warnings.push({
        code: 'strict-dynamic-import',
        message: `"${preload.specifier}" (${preload.href}), imported by this inline module, ${why}, so Chromium and Firefox block it under 'strict-dynamic'`,
        ...where,
        fix: 'let csp-seal pin it (localIntegrity, remote.mode "fetch"), or import it from a module file the page preloads',
      })
    let integrity: string
    if (preload.target.kind === 'local') {
      if (!config.localIntegrity) {
        unpinned('cannot be preloaded with integrity (localIntegrity is off)')
        continue
      }
      const found = await digests(preload.target.path)
      if (!found) {
        out.errors.push({
          code: 'missing-asset',
          message: `"${preload.specifier}", imported by this inline module, resolves to "${preload.target.path}" in the site folder, and there is no such file`,
          ...where,
          fix: 'check that the build emitted it, and the import map',
        })
        continue
      }
      integrity = `${config.integrityAlgorithm}-${found[config.integrityAlgorithm]}`
    } else {
      const outcome: RemoteOutcome = remote ? await remote(preload.target.url.href) : { kind: 'off' }
      if (outcome.kind === 'changed') {
        out.errors.push({
          code: 'remote-changed',
          message: `${preload.href} no longer matches the lock file: pinned ${outcome.locked}, fetched ${outcome.fetched}. The CDN may have been tampered with, or the file was updated`,
          ...where,
          fix: 'if the change is expected, run again with --update-lock (remote.updateLock) and commit the lock file',
        })
        continue
      }
      if (outcome.kind !== 'pinned') {
        unpinned(outcome.kind === 'failed' ? `could not be fetched (${outcome.reason}) to compute its integrity` : 'is not pinned (remote files are off)')
        continue
      }
      integrity = outcome.integrity
    }
    const crossOrigin = preload.target.kind === 'remote' || preload.target.crossOrigin ? ' crossorigin="anonymous"' : ''
    out.edits.push({
      start: preload.importer.start,
      end: preload.importer.start,
      text: `<link rel="modulepreload" href="${escapeAttribute(preload.href)}" integrity="${integrity}"${crossOrigin}>`,
    })
    out.scriptHashes.push(...integritySources(integrity))
  }
  return out
}

/** The URL that relative URLs of the page resolve against, on {@link SITE} for the site's own origin. */
function documentBaseOf(file: string, baseHref: string | undefined, base: string): URL | undefined {
  const page = new URL(base + file.split('/').map(encodeURIComponent).join('/'), SITE)
  try {
    return baseHref === undefined ? page : new URL(baseHref, page)
  } catch {
    return undefined
  }
}

let lexerReady = false

/** The constant specifiers a script imports: static imports of JavaScript modules, and `import("…")`. */
function importsOf(code: InlineCode): Array<{ specifier: string; isDynamic: boolean }> {
  if (!lexerReady) {
    initSync()
    lexerReady = true
  }
  let imports
  try {
    ;[imports] = parseImports(code.text)
  } catch {
    return [] // a syntax error: the browser runs nothing of this script
  }
  const found: Array<{ specifier: string; isDynamic: boolean }> = []
  for (const entry of imports) {
    if (entry.n === undefined || entry.d === -2) continue // computed specifier, or import.meta
    // JSON and CSS modules are fetched as data, under other directives.
    if (entry.at?.some(([key, value]) => key === 'type' && value !== 'javascript')) continue
    if (entry.d === -1 && entry.t === 1) found.push({ specifier: entry.n, isDynamic: false })
    else if (entry.d >= 0 && entry.t === 2) found.push({ specifier: entry.n, isDynamic: true })
  }
  return found
}

/** An import map as the HTML standard normalises it: keys and addresses resolved against the document's base. */
interface ImportMap {
  imports: Map<string, URL | null>
  scopes: Map<string, Map<string, URL | null>>
}

/** Parses an import map's JSON; a map the browser would reject (invalid JSON, not an object) gives undefined. */
export function parseImportMap(text: string, base: URL): ImportMap | undefined {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isObject(json)) return undefined
  const specifierMap = (raw: unknown) => {
    const map = new Map<string, URL | null>()
    if (!isObject(raw)) return map
    for (const [key, address] of Object.entries(raw)) {
      if (key === '') continue
      const normalisedKey = urlLike(key, base)?.href ?? key
      let url: URL | null = null
      if (typeof address === 'string') url = urlLike(address, base) ?? null
      if (url && key.endsWith('/') && !url.href.endsWith('/')) url = null
      map.set(normalisedKey, url)
    }
    return map
  }
  const scopes = new Map<string, Map<string, URL | null>>()
  if (isObject(json.scopes)) {
    for (const [prefix, map] of Object.entries(json.scopes)) {
      try {
        scopes.set(new URL(prefix, base).href, specifierMap(map))
      } catch {
        /* an invalid scope prefix is ignored */
      }
    }
  }
  return { imports: specifierMap(json.imports), scopes }
}

/** Several import maps in one document: a rule already defined keeps its first definition. */
function mergeImportMaps(maps: ImportMap[]): ImportMap {
  const merged: ImportMap = { imports: new Map(), scopes: new Map() }
  for (const map of maps) {
    for (const [key, url] of map.imports) if (!merged.imports.has(key)) merged.imports.set(key, url)
    for (const [prefix, scope] of map.scopes) {
      const into = merged.scopes.get(prefix) ?? new Map<string, URL | null>()
      for (const [key, url] of scope) if (!into.has(key)) into.set(key, url)
      merged.scopes.set(prefix, into)
    }
  }
  return merged
}

/** Resolves a module specifier of an inline script (HTML's "resolve a module specifier"), or undefined. */
export function resolveSpecifier(specifier: string, base: URL, map: ImportMap): URL | undefined {
  const asUrl = urlLike(specifier, base)
  const normalised = asUrl?.href ?? specifier
  const scopes = [...map.scopes.keys()].sort((a, b) => (a < b ? 1 : -1))
  for (const prefix of scopes) {
    if (prefix === base.href || (prefix.endsWith('/') && base.href.startsWith(prefix))) {
      const found = matchImports(normalised, asUrl, map.scopes.get(prefix)!)
      if (found !== undefined) return found ?? undefined
    }
  }
  const found = matchImports(normalised, asUrl, map.imports)
  if (found !== undefined) return found ?? undefined
  return asUrl
}

/** A match in a specifier map: the URL, null for a blocked rule, undefined for no rule. */
function matchImports(normalised: string, asUrl: URL | undefined, imports: Map<string, URL | null>): URL | null | undefined {
  const keys = [...imports.keys()].sort((a, b) => (a < b ? 1 : -1))
  for (const key of keys) {
    const address = imports.get(key)!
    if (key === normalised) return address
    if (key.endsWith('/') && normalised.startsWith(key) && (asUrl === undefined || isSpecial(asUrl))) {
      if (address === null) return null
      try {
        const url = new URL(normalised.slice(key.length), address)
        return url.href.startsWith(address.href) ? url : null
      } catch {
        return null
      }
    }
  }
  return undefined
}

/** A specifier that is a URL: absolute, or starting with `/`, `./` or `../`. */
function urlLike(specifier: string, base: URL): URL | undefined {
  try {
    if (specifier.startsWith('/') || specifier.startsWith('./') || specifier.startsWith('../')) return new URL(specifier, base)
    return new URL(specifier)
  } catch {
    return undefined
  }
}

function isSpecial(url: URL): boolean {
  return ['http:', 'https:', 'ftp:', 'ws:', 'wss:', 'file:'].includes(url.protocol)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;')
}
