import picomatch from 'picomatch'
import { HASH_ALGORITHMS, type HashAlgorithm } from './csp/hash.js'
import { governingDirective, parsePolicy, serializePolicy, type Policy, type PolicyInput } from './csp/policy.js'
import { didYouMean } from './did-you-mean.js'
import { SealError, type Problem } from './problems.js'

export type HeaderFormat = 'netlify' | 'vercel' | 'nginx'
export type PolicyScope = 'page' | 'site' | 'auto'
export const POLICY_SCOPES: readonly PolicyScope[] = ['auto', 'page', 'site']

export const HEADER_FORMATS: readonly HeaderFormat[] = ['netlify', 'vercel', 'nginx']

/** Options shared by the CLI, the library API and the Vite and webpack plugins. */
export interface CspSealConfig {
  /**
   * Your policy, as header text or an object (`{ 'img-src': ["'self'", 'data:'] }`). Each directive you set
   * replaces that directive of {@link DEFAULT_POLICY} (see `policyBase`); csp-seal adds what each page needs.
   */
  policy?: PolicyInput
  /**
   * What your `policy` is laid over: `'default'` (csp-seal's default policy: your directives replace its
   * directives one by one, and its other directives stay) or `'none'` (your policy alone). Default `'default'`.
   */
  policyBase?: 'default' | 'none'
  /**
   * Pages left alone, as globs relative to the site folder (`['drafts/**', 'legacy/*.html']`): they are not
   * read, sealed or listed in the manifest and header files.
   */
  exclude?: readonly string[]
  /** Algorithm of inline script/style hashes. Default `sha256`. */
  hashAlgorithm?: HashAlgorithm
  /** Algorithm of `integrity` attributes. Default `sha384` (what the SRI spec recommends). */
  integrityAlgorithm?: HashAlgorithm
  /**
   * Add `integrity` to the site's own scripts and stylesheets. Default `true`. Turn it off only for pages
   * loaded from `file://` (Electron `loadFile`), where Chromium refuses local files that carry integrity.
   */
  localIntegrity?: boolean
  /**
   * `style="…"` attributes: `'hash'` allows each one by hash with `'unsafe-hashes'` in `style-src-attr`;
   * `'policy'` adds nothing and leaves them to your policy. Default `'hash'`.
   */
  styleAttributes?: 'hash' | 'policy'
  /**
   * `on…=` handler attributes: `'report'` warns with file and line (they stay blocked unless your policy allows
   * them); `'hash'` allows each by hash with `'unsafe-hashes'` in `script-src-attr`. Default `'report'`.
   */
  eventHandlers?: 'report' | 'hash'
  /** URL path the site is served under, for root-relative URLs (`/docs/` → `/docs/a.js` is `a.js`). Default `/`. */
  base?: string
  /** Write the policy as a `<meta http-equiv>` tag into each page. Default `true`. */
  meta?: boolean
  /**
   * Send the policy as `Content-Security-Policy-Report-Only` (headers only; browsers ignore report-only meta
   * tags, so no meta tag is written). Default `false`.
   */
  reportOnly?: boolean
  /** Where browsers send violation reports: adds `report-uri` and `report-to` to the header policy. */
  report?: { uri: string; group?: string }
  /** Header files to write for static hosts. Default none. */
  headers?: readonly HeaderFormat[]
  /** Extra response headers for every page, written next to the policy (e.g. `X-Content-Type-Options`). */
  extraHeaders?: Record<string, string>
  /** File name of the manifest written in the site folder, or `false`. Default `csp-seal.json`. */
  manifest?: string | false
  /**
   * Per-response nonces, added by the server runtime (`csp-seal/server`, `csp-seal serve`) for styles,
   * external scripts and code the app injects at run time. The build never writes a nonce. Default `false`.
   */
  nonce?: boolean
  /** Subresource Integrity for files on other origins (CDNs). */
  remote?: RemoteOptions
  /**
   * URL prefixes on other origins that serve this site's own files, mapped to their folder in the site, e.g.
   * `{ 'https://static.example.com/assets/': 'assets/' }` (a bundler's full-URL public path). Their integrity is
   * computed from the built file; they are allowed like CDN files (scripts by hash, styles by origin).
   */
  localUrls?: Record<string, string>
  /**
   * Which pages a policy must serve. `'page'`: each page's policy allows its own inline code (a site whose links
   * load new documents). `'site'`: every page's policy allows the inline code of every page, since a client-side
   * router shows other pages' content in the document first loaded. `'auto'` (default): `'site'` when the build
   * shows a client-side router (see docs/reference.md), else `'page'`.
   */
  scope?: PolicyScope
  /**
   * Largest file csp-seal reads from the site, in bytes: a page or a local script or stylesheet; a larger one is an
   * error (bounded memory on hostile input). Default 64 MiB.
   */
  maxPageBytes?: number
  /**
   * Allow the inline styles the site's own JavaScript inserts at run time (markup with `style="…"` or `<style>`
   * in its strings, `setAttribute('style', '…')`, text given to `createElement('style')`), by hash: csp-seal reads
   * every `.js`/`.mjs`/`.cjs` file of the site with a JavaScript parser and adds what it finds to every page.
   * Default `true`.
   */
  runtimeStyles?: boolean
  /**
   * Hashes `csp-seal crawl --learn` saw the site add at run time (`csp-seal.learned.json`, reviewed and committed).
   * Style hashes are added to every page; script hashes only with `scripts: true`. `false` reads no file. Default:
   * `csp-seal.learned.json` in the current folder, when it exists.
   */
  learned?: { file?: string; scripts?: boolean } | false
}

export interface RemoteOptions {
  /**
   * `fetch` (default): fetch each remote file at build time, pin its integrity in the lock file;
   * `lock-only`: never use the network, every URL must be in the lock file; `off`: no remote integrity.
   */
  mode?: 'fetch' | 'lock-only' | 'off'
  /** Lock file path, relative to the current folder. Default `csp-seal.lock.json`. */
  lockFile?: string
  /** Accept fetched bytes that differ from the lock and rewrite the lock. Default `false`. */
  updateLock?: boolean
  /** Cache folder for fetched files. Default `node_modules/.cache/csp-seal`. */
  cacheDir?: string
  /** Per-request timeout in milliseconds. Default 15000. */
  timeout?: number
  /** Largest response accepted, in bytes. Default 10 MiB. */
  maxBytes?: number
  /** Requests in flight at once. Default 6. */
  concurrency?: number
  /** A URL that cannot be fetched: `error` (default) fails the run; `warn` leaves its tag untouched. */
  onFetchError?: 'error' | 'warn'
  /**
   * How remote scripts are allowed: `integrity` (default) by the hash in their integrity attribute (CSP3,
   * Chromium and Firefox 116+), so nothing else on the CDN can run; `origin` by the CDN's origin, for older
   * browsers, at the price of allowing every script that origin serves.
   */
  allow?: 'integrity' | 'origin'
  /**
   * Accept remote files on plain `http://` origins. Default `false`: a file fetched over plain HTTP can be swapped
   * by anyone on the network path (at build time and in the browser), so such a URL is an error. Loopback origins
   * (`localhost`, `127.0.0.1`, `[::1]`) never leave the machine and are always accepted.
   */
  allowHttp?: boolean
  /**
   * Origins whose files are loaded without integrity and allowed whole, by origin (`['https://www.googletagmanager.com']`):
   * for vendor scripts that change without notice. Every script these origins serve can then run on your pages,
   * so list only origins you trust as much as your own. Default none.
   */
  trustedOrigins?: readonly string[]
}

/**
 * The policy used when you give none: same-origin everything, no plugins, no base or form hijacking, and
 * framing by the same origin only. Inline code is then allowed exactly by the hashes csp-seal adds.
 */
export const DEFAULT_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
  "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"

/** Typed identity helper for config files: `export default defineConfig({ … })`. */
export function defineConfig(config: CspSealConfig): CspSealConfig {
  return config
}

/** A config with defaults filled in and the policy parsed once. */
export interface ResolvedConfig {
  /** The policy pages start from: your directives laid over the default policy (or yours alone). */
  policy: Policy
  policyBase: 'default' | 'none'
  /** Where `policy`'s directives came from: your policy, or csp-seal's default. */
  policySource: PolicySource
  exclude: readonly string[]
  hashAlgorithm: HashAlgorithm
  integrityAlgorithm: HashAlgorithm
  localIntegrity: boolean
  styleAttributes: 'hash' | 'policy'
  eventHandlers: 'report' | 'hash'
  base: string
  meta: boolean
  reportOnly: boolean
  report?: { uri: string; group: string }
  headers: readonly HeaderFormat[]
  extraHeaders: Record<string, string>
  manifest: string | false
  nonce: boolean
  remote: Required<RemoteOptions>
  localUrls: Record<string, string>
  maxPageBytes: number
  runtimeStyles: boolean
  scope: PolicyScope
  /** The learned file to read (`file` unset: the default file, when it exists), or `false`. */
  learned: { file?: string; scripts: boolean } | false
}

export interface PolicySource {
  /** Directives you set. */
  yours: string[]
  /** Directives kept from csp-seal's default policy. */
  fromDefault: string[]
}

const KNOWN_KEYS = new Set<string>([
  'policy',
  'policyBase',
  'exclude',
  'hashAlgorithm',
  'integrityAlgorithm',
  'localIntegrity',
  'styleAttributes',
  'eventHandlers',
  'base',
  'meta',
  'reportOnly',
  'report',
  'headers',
  'extraHeaders',
  'manifest',
  'nonce',
  'remote',
  'localUrls',
  'maxPageBytes',
  'runtimeStyles',
  'scope',
  'learned',
])

const REMOTE_KEYS = new Set<string>([
  'mode',
  'lockFile',
  'updateLock',
  'cacheDir',
  'timeout',
  'maxBytes',
  'concurrency',
  'onFetchError',
  'allow',
  'allowHttp',
  'trustedOrigins',
])

/**
 * Your policy laid over the default one, directive by directive: a directive you set replaces the default's.
 * A default directive that falls back to one you set goes too (your `default-src` then governs scripts, not the
 * default's `script-src`), unless it is `'none'`: a tightening you did not ask to loosen (`object-src 'none'`).
 */
export function overlayPolicy(base: Policy, yours: Policy): { policy: Policy; fromDefault: string[] } {
  const policy: Policy = new Map([...yours].map(([name, sources]) => [name, [...sources]]))
  const fromDefault: string[] = []
  for (const [name, sources] of base) {
    const governed = governingDirective(yours, name)
    if (governed !== undefined && !(governed !== name && sources.length === 1 && sources[0] === "'none'")) continue
    policy.set(name, [...sources])
    fromDefault.push(name)
  }
  return { policy, fromDefault }
}

/** Validates a config and fills in defaults; every problem is reported at once. */
export function resolveConfig(config: CspSealConfig = {}): ResolvedConfig {
  const problems: Problem[] = []
  const bad = (message: string, fix: string) => problems.push({ code: 'invalid-config', message, fix })
  for (const key of Object.keys(config)) {
    if (!KNOWN_KEYS.has(key))
      bad(`unknown option "${key}"${didYouMean(key, KNOWN_KEYS)}`, `remove it or correct its name; the options are ${[...KNOWN_KEYS].join(', ')}`)
  }
  for (const key of Object.keys(config.remote ?? {})) {
    if (!REMOTE_KEYS.has(key))
      bad(
        `unknown option "remote.${key}"${didYouMean(key, REMOTE_KEYS, (k) => `"remote.${k}"`)}`,
        `remove it or correct its name; the remote options are ${[...REMOTE_KEYS].join(', ')}`,
      )
  }
  const oneOf = <T extends string>(name: keyof CspSealConfig, allowed: readonly T[], fallback: T): T => {
    const value = config[name]
    if (value === undefined) return fallback
    if (!allowed.includes(value as T)) bad(`${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`, `set ${name} to ${allowed[0]}`)
    return value as T
  }
  const policyBase = oneOf('policyBase', ['default', 'none'], 'default')
  let policy: Policy = new Map()
  const policySource: PolicySource = { yours: [], fromDefault: [] }
  try {
    const yours = config.policy === undefined ? new Map() : parsePolicy(config.policy, 'policy')
    policySource.yours = [...yours.keys()]
    if (policyBase === 'none') {
      if (yours.size === 0) bad("policyBase: 'none' leaves no policy: you gave none", "give your policy (policy / --policy), or drop policyBase: 'none'")
      policy = yours
    } else {
      const overlaid = overlayPolicy(parsePolicy(DEFAULT_POLICY, 'default policy'), yours)
      policy = overlaid.policy
      policySource.fromDefault = overlaid.fromDefault
    }
  } catch (error) {
    if (error instanceof SealError) problems.push(...error.problems)
    else throw error
  }
  const exclude = config.exclude ?? []
  if (!Array.isArray(exclude) || exclude.some((glob) => typeof glob !== 'string' || glob === '' || glob.startsWith('/'))) {
    bad('exclude must be a list of globs relative to the site folder', "e.g. exclude: ['drafts/**', 'legacy/*.html']")
  }
  const base = config.base ?? '/'
  if (typeof base !== 'string' || !base.startsWith('/')) bad(`base must be a URL path starting with "/", not ${JSON.stringify(base)}`, 'e.g. base: "/docs/"')
  const scope = config.scope ?? 'auto'
  if (!POLICY_SCOPES.includes(scope))
    bad(
      `scope must be one of ${POLICY_SCOPES.join(', ')}, not ${JSON.stringify(scope)}${didYouMean(String(scope), POLICY_SCOPES)}`,
      "set scope to 'auto' (the default), or 'site' for a site with a client-side router",
    )
  const headers = config.headers ?? []
  for (const format of headers) if (!HEADER_FORMATS.includes(format)) bad(`unknown header format "${format}"`, `use ${HEADER_FORMATS.join(', ')}`)
  let report: ResolvedConfig['report']
  if (config.report) {
    const { uri, group = 'csp-endpoint' } = config.report
    if (typeof uri !== 'string' || !/^(https:\/\/|\/)[^\s;,"'<>]+$/.test(uri))
      bad(`report.uri must be an https:// URL or a path, not ${JSON.stringify(uri)}`, 'e.g. report: { uri: "https://example.com/csp-reports" }')
    if (!/^[A-Za-z0-9_-]+$/.test(group)) bad(`report.group must be a plain token, not ${JSON.stringify(group)}`, 'e.g. "csp-endpoint"')
    report = { uri, group }
  }
  const extraHeaders = config.extraHeaders ?? {}
  for (const [name, value] of Object.entries(extraHeaders)) {
    if (!/^[A-Za-z0-9-]+$/.test(name) || /[\r\n\0"$]/.test(String(value)))
      bad(`extraHeaders: ${JSON.stringify(name)} is not a safe header`, 'use a plain header name and a value without quotes, "$" or newlines')
  }
  const manifest = config.manifest ?? 'csp-seal.json'
  if (manifest !== false && (typeof manifest !== 'string' || manifest.includes('..') || manifest.startsWith('/')))
    bad(`manifest must be a file name inside the site folder or false`, 'e.g. manifest: "csp-seal.json"')
  const remote = config.remote ?? {}
  const positive = (name: keyof RemoteOptions, fallback: number) => {
    const value = remote[name] ?? fallback
    if (typeof value !== 'number' || !(value > 0)) bad(`remote.${name} must be a positive number`, `e.g. ${fallback}`)
    return value as number
  }
  const oneOfRemote = <T extends string>(name: keyof RemoteOptions, allowed: readonly T[]): T => {
    const value = remote[name] ?? allowed[0]
    if (!allowed.includes(value as T)) bad(`remote.${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`, `set it to ${allowed[0]}`)
    return value as T
  }
  if (remote.allowHttp !== undefined && typeof remote.allowHttp !== 'boolean') bad('remote.allowHttp must be true or false', 'e.g. remote: { allowHttp: true }')
  if (config.runtimeStyles !== undefined && typeof config.runtimeStyles !== 'boolean') bad('runtimeStyles must be true or false', 'e.g. runtimeStyles: false')
  if (config.maxPageBytes !== undefined && !(Number.isInteger(config.maxPageBytes) && config.maxPageBytes > 0))
    bad('maxPageBytes must be a positive whole number of bytes', 'e.g. maxPageBytes: 134217728')
  for (const [prefix, folder] of Object.entries(config.localUrls ?? {})) {
    if (!/^https?:\/\/[^/]+\/(.*\/)?$/.test(prefix))
      bad(`localUrls: ${JSON.stringify(prefix)} must be an http(s) URL prefix ending with "/"`, "e.g. 'https://static.example.com/assets/'")
    if (typeof folder !== 'string' || folder.startsWith('/') || folder.includes('..') || (folder !== '' && !folder.endsWith('/')))
      bad(`localUrls: the folder for ${prefix} must be a site-relative folder ending with "/" (or "")`, "e.g. 'assets/'")
  }
  const trustedOrigins = remote.trustedOrigins ?? []
  for (const origin of Array.isArray(trustedOrigins) ? trustedOrigins : [trustedOrigins]) {
    const parsed = typeof origin === 'string' && URL.canParse(origin) ? new URL(origin) : undefined
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      const fix = parsed && /^https?:$/.test(parsed.protocol) ? `write it as "${parsed.origin}"` : 'e.g. "https://www.googletagmanager.com"'
      bad(`remote.trustedOrigins: ${JSON.stringify(origin)} is not an origin (scheme and host, no path)`, fix)
    }
  }
  const learned = config.learned ?? {}
  if (learned !== false && (typeof learned !== 'object' || learned === null || Array.isArray(learned)))
    bad('learned must be { file?, scripts? } or false', "e.g. learned: { file: 'csp-seal.learned.json' }")
  else if (learned) {
    for (const key of Object.keys(learned))
      if (key !== 'file' && key !== 'scripts') bad(`unknown option "learned.${key}"`, 'the learned options are file, scripts')
    if (learned.file !== undefined && (typeof learned.file !== 'string' || learned.file === ''))
      bad('learned.file must be a file name', "e.g. learned: { file: 'csp-seal.learned.json' }")
    if (learned.scripts !== undefined && typeof learned.scripts !== 'boolean') bad('learned.scripts must be true or false', 'e.g. learned: { scripts: true }')
  }
  const resolved: ResolvedConfig = {
    policy,
    policyBase,
    policySource,
    exclude: Array.isArray(exclude) ? exclude : [],
    hashAlgorithm: oneOf('hashAlgorithm', HASH_ALGORITHMS, 'sha256'),
    integrityAlgorithm: oneOf('integrityAlgorithm', HASH_ALGORITHMS, 'sha384'),
    localIntegrity: config.localIntegrity ?? true,
    styleAttributes: oneOf('styleAttributes', ['hash', 'policy'], 'hash'),
    eventHandlers: oneOf('eventHandlers', ['report', 'hash'], 'report'),
    base: base.endsWith('/') ? base : `${base}/`,
    meta: config.meta ?? true,
    reportOnly: config.reportOnly ?? false,
    report,
    headers,
    extraHeaders,
    manifest,
    nonce: config.nonce ?? false,
    maxPageBytes: config.maxPageBytes ?? 64 * 1024 * 1024,
    runtimeStyles: config.runtimeStyles ?? true,
    scope,
    localUrls: config.localUrls ?? {},
    learned:
      learned === false || typeof learned !== 'object' || learned === null
        ? false
        : { ...(learned.file !== undefined ? { file: learned.file } : {}), scripts: learned.scripts === true },
    remote: {
      mode: oneOfRemote('mode', ['fetch', 'lock-only', 'off']),
      lockFile: remote.lockFile ?? 'csp-seal.lock.json',
      updateLock: remote.updateLock ?? false,
      cacheDir: remote.cacheDir ?? 'node_modules/.cache/csp-seal',
      timeout: positive('timeout', 15_000),
      maxBytes: positive('maxBytes', 10 * 1024 * 1024),
      concurrency: positive('concurrency', 6),
      onFetchError: oneOfRemote('onFetchError', ['error', 'warn']),
      allow: oneOfRemote('allow', ['integrity', 'origin']),
      allowHttp: remote.allowHttp ?? false,
      trustedOrigins: Array.isArray(trustedOrigins) ? trustedOrigins : [],
    },
  }
  if (problems.length) throw new SealError(problems)
  return resolved
}

/** A config resolved once: a {@link ResolvedConfig} is used as it is, anything else is resolved. */
export function toResolved(config: CspSealConfig | ResolvedConfig): ResolvedConfig {
  return config.policy instanceof Map ? (config as ResolvedConfig) : resolveConfig(config as CspSealConfig)
}

/** A predicate for site-relative page paths: false for pages the config's `exclude` globs leave alone. */
export function pageFilter(config: Pick<ResolvedConfig, 'exclude'>): (file: string) => boolean {
  if (config.exclude.length === 0) return () => true
  const excluded = picomatch([...config.exclude], { dot: true })
  return (file) => !excluded(file)
}

/**
 * The options a run sealed with, as plain JSON for the manifest, so that `--check` can check the folder as that
 * run wrote it. The policy is recorded as it was in effect (so `policyBase` is `'none'`); what only changes how
 * remote files are fetched (cache, timeouts) is left out.
 */
export function recordedOptions(config: ResolvedConfig): CspSealConfig {
  const { remote } = config
  return {
    policy: serializePolicy(config.policy),
    policyBase: 'none',
    ...(config.exclude.length ? { exclude: config.exclude } : {}),
    hashAlgorithm: config.hashAlgorithm,
    integrityAlgorithm: config.integrityAlgorithm,
    localIntegrity: config.localIntegrity,
    styleAttributes: config.styleAttributes,
    eventHandlers: config.eventHandlers,
    base: config.base,
    meta: config.meta,
    reportOnly: config.reportOnly,
    ...(config.report ? { report: config.report } : {}),
    headers: config.headers,
    extraHeaders: config.extraHeaders,
    manifest: config.manifest,
    nonce: config.nonce,
    localUrls: config.localUrls,
    maxPageBytes: config.maxPageBytes,
    runtimeStyles: config.runtimeStyles,
    scope: config.scope,
    remote: {
      mode: remote.mode,
      lockFile: remote.lockFile,
      onFetchError: remote.onFetchError,
      allow: remote.allow,
      allowHttp: remote.allowHttp,
      trustedOrigins: remote.trustedOrigins,
    },
  }
}

/**
 * `recorded` (the options a manifest holds) with `given` laid over it, option by option. A policy given anew
 * comes with its own base: the recorded policy is the one that was in effect, not the one the user wrote.
 */
export function overRecorded(recorded: CspSealConfig, given: CspSealConfig): CspSealConfig {
  const known = Object.fromEntries(Object.entries(recorded).filter(([key]) => KNOWN_KEYS.has(key))) as CspSealConfig
  const merged: CspSealConfig = { ...known, ...given }
  if (given.policy !== undefined || given.policyBase !== undefined) {
    merged.policy = given.policy
    merged.policyBase = given.policyBase
  }
  if (known.remote || given.remote) {
    const remote = Object.fromEntries(Object.entries(known.remote ?? {}).filter(([key]) => REMOTE_KEYS.has(key)))
    merged.remote = { ...remote, ...given.remote }
  }
  return merged
}
