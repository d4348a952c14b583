import type { ResolvedConfig } from '../config.js'
import type { Family } from '../csp/allow.js'
import { allowsSelf } from '../csp/allow.js'
import type { Policy } from '../csp/policy.js'
import type { ExternalRef, Scan, Tag } from '../html/scan.js'
import { excerpt, type Problem } from '../problems.js'
import { RefusedFile } from '../safe-fs.js'
import { integrityAccepts, integritySources, type Digests } from '../sri/integrity.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { optedOut } from './opt-out.js'
import type { Where } from './page-policy.js'
import type { Edit } from './splice.js'
import { resolveUrl } from './urls.js'

/**
 * An origin a policy is widened by: everything that origin serves may then load. Its warning (if the widening is
 * not the documented default, as it is for CDN stylesheets) says so, with the directive that got the origin, once
 * the policy step knows which one that is.
 */
export interface OriginWidening {
  origin: string
  family: Family
  /** The warning that explains why; the directive and origin are added to its message. */
  warning?: Problem
}

/** How a page's scripts and stylesheets are loaded and allowed: integrity, and the sources that allow them. */
export interface ExternalPlan {
  edits: Edit[]
  /** URL as written → integrity, for local and remote files that carry one. */
  integrity: Record<string, string>
  /** Remote URLs the page loads scripts or styles from. */
  remote: string[]
  /** Offsets right after the tag name of external scripts, stylesheets and preloads (nonce slots). */
  slots: number[]
  /** Hash sources from integrity that allow scripts (CSP3 external hashes), with the origin each file loads from. */
  scriptHashes: Map<string, string | undefined>
  origins: OriginWidening[]
  errors: Problem[]
  warnings: Problem[]
}

export interface ExternalContext {
  file: string
  config: ResolvedConfig
  policy: Policy
  digests: (path: string) => Promise<Digests | undefined>
  remote?: (url: string) => Promise<RemoteOutcome>
  at: (tag: Tag) => Where
}

/**
 * What a referenced file gives: its integrity; no integrity to go by (`unknown`: the warning that says why, or
 * the reason); or nothing at all (`skip`: reported).
 */
type Found = { integrity: string; digests?: Digests; what: string } | { unknown: Problem | string } | 'skip'

/**
 * Integrity for every `<script src>`, stylesheet and preload from the file's final bytes (local) or its pinned
 * bytes (remote), and how each is allowed: scripts by their integrity hash, stylesheets by origin, and by origin
 * wherever there is no integrity to go by (said in a warning).
 */
export async function planExternals(scan: Scan, context: ExternalContext): Promise<ExternalPlan> {
  const { file, config, at } = context
  const plan: ExternalPlan = { edits: [], integrity: {}, remote: [], slots: [], scriptHashes: new Map(), origins: [], errors: [], warnings: [] }
  const remote = new Set<string>()
  const widen = (origin: string, family: Family, warning?: Problem) => {
    if (warning && !plan.warnings.includes(warning)) plan.warnings.push(warning)
    plan.origins.push({ origin, family, warning })
  }
  for (const ref of scan.external) {
    if (optedOut(ref.tag)) continue
    if (ref.tag.editable && ref.tag.context === 'document') plan.slots.push(ref.tag.nameEnd)
    if (ref.tag.context === 'srcdoc') continue
    const where = at(ref.tag)
    const target = resolveUrl(ref.url, file, scan.baseHref, config.base, config.localUrls)
    if (target.kind === 'unsupported') {
      plan.warnings.push({ code: 'unsupported-url', message: `${excerpt(ref.url, 60)} ${target.reason}; csp-seal leaves it to your policy`, ...where })
      continue
    }
    if (target.kind === 'remote' && target.url.protocol === 'http:' && !config.remote.allowHttp && !isLoopback(target.url.hostname)) {
      plan.errors.push({
        code: 'remote-http',
        message: `${excerpt(target.url.href, 80)} is loaded over plain HTTP: anyone on the network path can change it, at build time and in the browser, and its origin would go into the policy`,
        ...where,
        fix: 'load it over https://, or self-host the file; if this origin is trusted (an intranet), set remote: { allowHttp: true }',
      })
      continue
    }
    if (target.kind === 'remote') remote.add(target.url.href)
    const origin = target.kind === 'local' ? target.crossOrigin : target.url.origin
    if (target.kind === 'remote' && config.remote.trustedOrigins.includes(target.url.origin)) {
      // An origin the user trusts whole (the summary says so on every run): allowed by origin, never fetched or pinned.
      widen(target.url.origin, ref.destination === 'style' ? 'style' : 'script')
      continue
    }
    if (ref.noCors && origin) {
      // An SVG <script href> is fetched without CORS (no crossorigin), and browsers check its integrity: from another
      // origin that check can only fail (measured in Chromium). Allow it by origin and add nothing to the tag.
      const refused = ref.tag.attrs.has('integrity') ? '; its integrity attribute makes browsers refuse it' : ''
      widen(origin, 'script', {
        code: 'svg-script-origin',
        message: `SVG <script href="${excerpt(ref.url, 60)}"> loads from another origin without CORS, so it cannot carry integrity${refused}`,
        ...where,
        fix: 'self-host the file, or load it with an HTML <script src>',
      })
      continue
    }
    const found =
      target.kind === 'local' ? await localFile(ref, target.path, where, context, plan) : await remoteFile(ref, target.url.href, where, context, plan)
    if (found === 'skip') continue
    const existing = ref.tag.attrs.get('integrity')?.value
    let integrity = existing
    const pinned = 'unknown' in found ? undefined : found
    if (pinned) {
      if (existing !== undefined) {
        const accepted = pinned.digests ? integrityAccepts(existing, pinned.digests) : existing.trim() === pinned.integrity
        if (accepted !== true) {
          plan.errors.push({
            code: 'integrity-mismatch',
            message: `integrity="${excerpt(existing, 40)}" ${accepted === undefined ? 'is not a valid integrity value' : `does not match ${pinned.what} (${pinned.integrity})`}; browsers would refuse to load it`,
            ...where,
            fix: 'remove the integrity attribute and let csp-seal compute it, or rebuild so the page and file agree',
          })
          continue
        }
      } else if (ref.tag.editable) {
        plan.edits.push({ start: ref.tag.attrInsert, end: ref.tag.attrInsert, text: ` integrity="${pinned.integrity}"` })
        integrity = pinned.integrity
      }
      // Integrity on a cross-origin file needs a CORS request, or the browser refuses the file.
      if (origin && ref.tag.editable && !ref.tag.attrs.has('crossorigin'))
        plan.edits.push({ start: ref.tag.attrInsert, end: ref.tag.attrInsert, text: ' crossorigin="anonymous"' })
    }
    if (integrity) plan.integrity[ref.url] = integrity
    // Why a file has no checked integrity: the warning that already says so, or the reason.
    const unpinned = 'unknown' in found ? found.unknown : undefined
    const said = typeof unpinned === 'object' ? unpinned : undefined
    if (ref.destination === 'style') {
      // Stylesheets cannot be allowed by hash: by origin ('self' for the site's own).
      if (origin) widen(origin, 'style', said)
    } else if (origin && (!pinned || !integrity || config.remote.allow === 'origin')) {
      const why =
        typeof unpinned === 'string'
          ? `has no integrity csp-seal checked (${unpinned})`
          : !integrity
            ? 'has no integrity'
            : "is allowed by its origin (remote.allow: 'origin')"
      widen(
        origin,
        'script',
        said ?? {
          code: 'script-origin',
          message: `${excerpt(ref.url, 80)} ${why}`,
          ...where,
          fix: "allow it by its integrity hash (remote.allow: 'integrity', the default), or self-host the file",
        },
      )
    } else if (integrity && (origin || !allowsSelf(context.policy, 'script-src-elem'))) {
      // Allowed by its own hash (CSP3): nothing else on that origin can run, and 'strict-dynamic' lets it load.
      for (const hash of integritySources(integrity)) plan.scriptHashes.set(hash, origin)
    }
  }
  plan.remote = [...remote]
  if (!allowsSelf(context.policy, 'style-src-elem') && scan.external.some((r) => r.destination === 'style' && r.tag.context !== 'srcdoc')) {
    plan.warnings.push({
      code: 'stylesheet-not-allowed',
      message: 'the policy does not allow same-origin stylesheets, and stylesheets cannot be allowed by hash',
      file,
      fix: "add 'self' to style-src (or style-src-elem)",
    })
  }
  return plan
}

/** A file of the site: its digests, or an error (missing, unreadable) or warning (outside the site). */
async function localFile(ref: ExternalRef, path: string, where: Where, { config, digests }: ExternalContext, plan: ExternalPlan): Promise<Found> {
  if (!config.localIntegrity) return { unknown: 'localIntegrity is off' }
  let asset: Digests | undefined
  try {
    asset = await digests(path)
  } catch (error) {
    if (!(error instanceof RefusedFile)) throw error
    if (error.reason === 'outside-site') {
      plan.warnings.push({
        code: 'outside-site',
        message: `${ref.url} resolves to "${path}", which leads outside the site folder (it ${error.message}); it was not read and gets no integrity`,
        ...where,
        fix: 'copy the file into the build output instead of linking to it',
      })
    } else {
      plan.errors.push({
        code: error.reason === 'too-large' ? 'asset-too-large' : error.reason === 'not-a-file' ? 'asset-not-a-file' : 'asset-unreadable',
        message: `${ref.url} resolves to "${path}", which ${error.message}; csp-seal reads only regular files of the site, within the size limit`,
        ...where,
        fix: error.reason === 'too-large' ? 'raise maxPageBytes if the file is really meant to be this large' : 'make it a regular, readable file of the site',
      })
    }
    return 'skip'
  }
  if (asset === undefined) {
    plan.errors.push({
      code: 'missing-asset',
      message: `${ref.url} resolves to "${path}" in the site folder, and there is no such file`,
      ...where,
      fix: `check that the build emitted it${config.base !== '/' ? ` and that base (${config.base}) is right` : ' (or set base if the site is served under a sub-path)'}`,
    })
    return 'skip'
  }
  return { integrity: `${config.integrityAlgorithm}-${asset[config.integrityAlgorithm]}`, digests: asset, what: path }
}

/** A file on another origin: pinned (fetched or from the lock), or why not. */
async function remoteFile(ref: ExternalRef, href: string, where: Where, { config, remote }: ExternalContext, plan: ExternalPlan): Promise<Found> {
  const outcome: RemoteOutcome = remote ? await remote(href) : { kind: 'off' }
  if (outcome.kind === 'changed') {
    plan.errors.push({
      code: 'remote-changed',
      message: `${href} no longer matches the lock file: pinned ${outcome.locked}, fetched ${outcome.fetched}. The CDN may have been tampered with, or the file was updated`,
      ...where,
      fix: 'if the change is expected, run again with --update-lock (remote.updateLock) and commit the lock file',
    })
    return 'skip'
  }
  if (outcome.kind === 'failed') {
    const problem: Problem = {
      code: 'remote-fetch',
      message: `${href} ${outcome.reason}, so its integrity cannot be computed`,
      ...where,
      fix: 'check the URL and the network, pin it in the lock file, or set remote.onFetchError: "warn" (--remote-errors warn) to leave the tag as it is',
    }
    if (config.remote.onFetchError === 'error') {
      plan.errors.push(problem)
      return 'skip'
    }
    const warning: Problem = {
      ...problem,
      message: `${problem.message}; its tag was left as it is`,
      fix: 'check the URL and the network, or pin it in the lock file',
    }
    plan.warnings.push(warning)
    return { unknown: warning }
  }
  if (outcome.kind === 'off') {
    if (ref.tag.attrs.has('integrity')) return { unknown: "remote.mode is 'off'" }
    const warning: Problem = {
      code: 'remote-without-integrity',
      message: `${href} is loaded from another origin without integrity`,
      ...where,
      fix: 'let csp-seal pin it (remote.mode "fetch"), or self-host the file',
    }
    plan.warnings.push(warning)
    return { unknown: warning }
  }
  if (outcome.unverified) plan.warnings.push({ code: 'remote-unverified', message: `${href} ${outcome.unverified}`, ...where })
  if (outcome.noCors)
    plan.warnings.push({
      code: 'remote-no-cors',
      message: `${href} was served without Access-Control-Allow-Origin; browsers refuse a cross-origin file with integrity unless its server allows CORS`,
      ...where,
      fix: 'use a CDN that sends CORS headers, or self-host the file',
    })
  return { integrity: outcome.integrity, digests: outcome.digests, what: `the bytes ${href} serves` }
}

/** Loopback hosts: a potentially trustworthy origin even over http (nothing leaves the machine). */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}
