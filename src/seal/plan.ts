import type { ResolvedConfig } from '../config.js'
import { allow, type AllowOutcome } from '../csp/allow.js'
import { cspHash } from '../csp/hash.js'
import type { ExtraHashes, InlineDirective } from '../csp/inline.js'
import { CHARSET_META, policyMetaTag } from '../csp/meta.js'
import { clonePolicy, HEADER_ONLY_DIRECTIVES, metaPolicyOf, type Policy } from '../csp/policy.js'
import { elementNameEnd } from '../html/find-element.js'
import type { Scan, Tag } from '../html/scan.js'
import { excerpt, type Problem } from '../problems.js'
import type { Digests } from '../sri/integrity.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { planExternals, type ExternalPlan } from './externals.js'
import { sealModulePreloads } from './import-map.js'
import { blockingPolicy, pagePolicies, type PagePolicy, type Where } from './page-policy.js'
import { optedOut } from './opt-out.js'
import { preflight } from './preflight.js'
import type { Edit } from './splice.js'

export interface PlanContext {
  file: string
  config: ResolvedConfig
  digests: (path: string) => Promise<Digests | undefined>
  remote?: (url: string) => Promise<RemoteOutcome>
  /** The page starts with a UTF-8 byte order mark (which settles its encoding). */
  bom: boolean
  /** Hashes the page needs beyond its own inline code (see {@link ExtraHashes}). */
  extraHashes?: ExtraHashes
  /** Element names of the site's Angular components: the page's first one (the app root) gets an `ngCspNonce` slot. */
  angularRoots?: readonly string[]
}

/** Everything sealing decided for one page: the edits, the policy and what went into it, and what to report. */
export interface Plan {
  policy: Policy
  metaPolicy?: Policy
  edits: Edit[]
  scriptHashes: string[]
  styleHashes: string[]
  attributeHashes: string[]
  /** The attribute hashes by directive (`attributeHashes` holds both). */
  scriptAttributeHashes: string[]
  styleAttributeHashes: string[]
  integrity: Record<string, string>
  remote: string[]
  /** Offsets of nonce slots in the page's text (after the tag names of styles, stylesheets, external scripts). */
  slots: number[]
  /** Offsets right after the tag name of the app root element, where the runtime puts ` ngCspNonce="…"`. */
  rootSlots: number[]
  errors: Problem[]
  warnings: Problem[]
}

/** The bytes before which browsers look for a `<meta charset>` (the encoding prescan). */
const PRESCAN_BYTES = 1024

/**
 * Plans one page from its scan: the page's own policies, the encoding, inline hashes, integrity of external files,
 * the merged policy, and the meta tag. Pure but for reading assets and remote pins through the context.
 */
export async function planPage(html: string, scan: Scan, context: PlanContext): Promise<Plan> {
  const { file, config } = context
  const at = (tag: Tag): Where =>
    tag.editable
      ? { file, line: tag.line, column: tag.column, element: excerpt(html.slice(tag.start, tag.end)) }
      : { file, element: tag.context === 'srcdoc' ? 'iframe srcdoc' : `<${tag.name}>` }
  const own = pagePolicies(scan, config, at)
  const encoding = planEncoding(html, scan, context, at)
  const inline = planInline(scan, config, own.own, at)
  addExtraHashes(inline, context.extraHashes, config)
  const policy = clonePolicy(config.policy)
  const externals = await planExternals(scan, { file, config, policy, digests: context.digests, remote: context.remote, at })
  // Under 'strict-dynamic', what hash-allowed inline modules import is preloaded with integrity, allowed by its hash.
  const preloads = await sealModulePreloads(scan, policy, { file, config, digests: context.digests, remote: context.remote, locate: at })
  for (const hash of preloads.scriptHashes) externals.scriptHashes.set(hash, undefined)
  const merged = mergeSources(policy, inline, externals, file)
  const meta = planMeta(policy, config, scan, file)
  // Checked against the policy the page ends up with, as the browser will check it.
  const blocked = preflight(scan, policy, config, file, at)
  for (const code of scan.inline)
    if (code.tag.editable && code.tag.context === 'document' && code.element === 'style' && !optedOut(code.tag)) externals.slots.push(code.tag.nameEnd)
  return {
    policy,
    metaPolicy: meta.metaPolicy,
    // The charset meta goes right before csp-seal's policy meta (both insertions at one place, in this order).
    // A preload inserted where the meta goes comes after it (edits at one offset keep this order).
    edits: [...own.edits, ...encoding.edits, ...externals.edits, meta.edit, ...preloads.edits],
    scriptHashes: [...inline.scriptHashes],
    styleHashes: [...inline.styleHashes],
    attributeHashes: [...inline.scriptAttrHashes, ...inline.styleAttrHashes],
    scriptAttributeHashes: [...inline.scriptAttrHashes],
    styleAttributeHashes: [...inline.styleAttrHashes],
    integrity: externals.integrity,
    remote: externals.remote,
    slots: externals.slots,
    rootSlots: rootSlotsOf(html, context.angularRoots),
    errors: [...own.errors, ...encoding.errors, ...externals.errors, ...preloads.errors],
    warnings: [
      ...own.warnings,
      ...encoding.warnings,
      ...inline.warnings,
      ...externals.warnings,
      ...preloads.warnings,
      ...merged.warnings,
      ...meta.warnings,
      ...blocked,
    ],
  }
}

/** Angular reads its nonce from `ngCspNonce` on the first element of the page that carries it: the app root. */
function rootSlotsOf(html: string, angularRoots: readonly string[] | undefined): number[] {
  if (!angularRoots?.length) return []
  const at = elementNameEnd(html, new Set(angularRoots))
  return at === undefined ? [] : [at]
}

/**
 * The page's encoding must be UTF-8 (CSP hashes UTF-8 text), and certain: a page that declares no charset and has
 * no BOM is read as windows-1252 by a browser when the server sends no charset, which blocks its non-ASCII inline
 * code. It gets `<meta charset="utf-8">`, inside the bytes the browser's encoding prescan reads.
 */
function planEncoding(html: string, scan: Scan, { file, bom }: PlanContext, at: (tag: Tag) => Where) {
  const errors: Problem[] = []
  const warnings: Problem[] = []
  const edits: Edit[] = []
  const charset = scan.charset?.value
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    errors.push({
      code: 'charset',
      message: `the page declares charset "${charset}"; CSP hashes are computed over UTF-8 text, so csp-seal only seals UTF-8 pages`,
      ...at(scan.charset!.tag),
      fix: 'save the page as UTF-8 and declare <meta charset="utf-8">',
    })
  } else if (charset === undefined && !bom) {
    if (Buffer.byteLength(html.slice(0, scan.metaInsert), 'utf8') + CHARSET_META.length <= PRESCAN_BYTES) {
      edits.push({ start: scan.metaInsert, end: scan.metaInsert, text: CHARSET_META })
      warnings.push({
        code: 'charset-added',
        message:
          'the page declared no charset, so csp-seal added <meta charset="utf-8"> (a browser that gets no charset from the server would read it as windows-1252, and block inline code with non-ASCII text)',
        file,
        fix: 'declare <meta charset="utf-8"> first in <head> in the page sources',
      })
    } else if (/[^\0-\x7f]/.test(html)) {
      warnings.push({
        code: 'charset-missing',
        message: `the page declares no charset and holds non-ASCII text, and <head> starts too late for a <meta charset> to be seen (browsers look at the first ${PRESCAN_BYTES} bytes): a browser that gets no charset from the server reads it as windows-1252 and blocks its non-ASCII inline code`,
        file,
        fix: 'declare <meta charset="utf-8"> in the first 1024 bytes, or serve the page with Content-Type: text/html; charset=utf-8',
      })
    }
  }
  return { errors, warnings, edits }
}

interface InlinePlan {
  scriptHashes: Set<string>
  styleHashes: Set<string>
  scriptAttrHashes: Set<string>
  styleAttrHashes: Set<string>
  warnings: Problem[]
}

/** Hashes of inline scripts, styles and attributes; code that the page's own policy blocks is reported instead. */
function planInline(scan: Scan, config: ResolvedConfig, own: readonly PagePolicy[], at: (tag: Tag) => Where): InlinePlan {
  const plan: InlinePlan = { scriptHashes: new Set(), styleHashes: new Set(), scriptAttrHashes: new Set(), styleAttrHashes: new Set(), warnings: [] }
  /** Whether the page's own policy lets this code run (else it is reported, and gets no hash). */
  const runs = (directive: InlineDirective, text: string, tag: Tag, what: string): boolean => {
    if (own.length === 0) return true
    const blocking = blockingPolicy(own, directive, text, tag)
    if (!blocking) return true
    plan.warnings.push({
      code: 'blocked-by-page-policy',
      message: `${what} is blocked by the page's own Content-Security-Policy meta (line ${blocking.line}), so it did not run before sealing and does not run now; csp-seal added no hash for it`,
      ...at(tag),
      fix: 'if it should run, allow it in that meta (or remove the meta and give its policy to csp-seal in the config); otherwise remove it',
    })
    return false
  }
  for (const code of scan.inline) {
    if (optedOut(code.tag)) continue
    const directive = code.element === 'script' ? 'script-src-elem' : 'style-src-elem'
    if (runs(directive, code.text, code.tag, `this inline <${code.element}>`))
      (code.element === 'script' ? plan.scriptHashes : plan.styleHashes).add(cspHash(code.text, config.hashAlgorithm))
  }
  for (const tag of scan.templatesWithCode) {
    plan.warnings.push({
      code: 'template-code',
      message: '<template> content holds scripts or styles: inert until script clones it; they were hashed so a clone runs',
      ...at(tag),
    })
  }
  for (const attr of scan.attributes) {
    if (optedOut(attr.tag)) continue
    if (attr.kind === 'style') {
      if (config.styleAttributes === 'hash' && runs('style-src-attr', attr.value, attr.tag, 'this style attribute'))
        plan.styleAttrHashes.add(cspHash(attr.value, config.hashAlgorithm))
    } else if (attr.kind === 'handler') {
      if (config.eventHandlers !== 'hash')
        plan.warnings.push({
          code: 'event-handler',
          message: `inline event handler ${attr.name}= is blocked by the policy`,
          ...at(attr.tag),
          fix: 'move it into a script with addEventListener, or set eventHandlers: "hash" to allow it by hash',
        })
      else if (runs('script-src-attr', attr.value, attr.tag, `the ${attr.name}= handler`)) plan.scriptAttrHashes.add(cspHash(attr.value, config.hashAlgorithm))
    } else {
      plan.warnings.push({
        code: 'javascript-url',
        message: `${attr.name}="javascript:…" is blocked by the policy`,
        ...at(attr.tag),
        fix: 'use a button with an event listener attached from a script',
      })
    }
  }
  return plan
}

/** Hashes from beyond the page join its own; attributes only where the configuration hashes attributes at all. */
function addExtraHashes(inline: InlinePlan, extra: ExtraHashes | undefined, config: ResolvedConfig): void {
  if (!extra) return
  for (const hash of extra.scripts ?? []) inline.scriptHashes.add(hash)
  for (const hash of extra.styles ?? []) inline.styleHashes.add(hash)
  if (config.eventHandlers === 'hash') for (const hash of extra.scriptAttributes ?? []) inline.scriptAttrHashes.add(hash)
  if (config.styleAttributes === 'hash') for (const hash of extra.styleAttributes ?? []) inline.styleAttrHashes.add(hash)
}

/**
 * Adds what the page needs to `policy` (the user's), by the fallback rules of {@link allow}; where the user keeps
 * `'unsafe-inline'` no hash goes in, and external scripts fall back to their origins. Every origin added is
 * stated in its warning, with the directive that got it.
 */
function mergeSources(policy: Policy, inline: InlinePlan, externals: ExternalPlan, file: string) {
  const warnings: Problem[] = []
  const weak = new Set<string>()
  const record = (outcome: AllowOutcome) => outcome.keptUnsafeInline && weak.add(outcome.keptUnsafeInline)
  const origins = (family: 'script' | 'style') => [...new Set(externals.origins.filter((o) => o.family === family).map((o) => o.origin))]
  const scripts = allow(policy, 'script', 'elem', [...inline.scriptHashes, ...externals.scriptHashes.keys(), ...origins('script')])
  record(scripts)
  const widened = externals.origins.map((widening) => ({ ...widening, into: widening.family === 'script' ? scripts.directive : undefined }))
  if (scripts.keptUnsafeInline) {
    // No hash can go where the user keeps 'unsafe-inline' for scripts: files allowed by integrity fall back to their origins.
    const fallback = [...new Set([...externals.scriptHashes.values()].filter((origin): origin is string => origin !== undefined))]
    const { directive } = allow(policy, 'script', 'elem', fallback)
    for (const origin of fallback) {
      const warning: Problem = {
        code: 'script-origin',
        message: `scripts from ${origin} cannot be allowed by their integrity hash, since ${scripts.keptUnsafeInline} keeps 'unsafe-inline'`,
        file,
        fix: "remove 'unsafe-inline' from it: csp-seal hashes every inline script",
      }
      warnings.push(warning)
      widened.push({ origin, family: 'script', warning, into: directive })
    }
  }
  const styles = allow(policy, 'style', 'elem', [...inline.styleHashes, ...origins('style')])
  record(styles)
  if (inline.scriptAttrHashes.size) record(allow(policy, 'script', 'attr', ["'unsafe-hashes'", ...inline.scriptAttrHashes]))
  if (inline.styleAttrHashes.size) record(allow(policy, 'style', 'attr', ["'unsafe-hashes'", ...inline.styleAttrHashes]))
  for (const { origin, family, warning, into } of widened) {
    const directive = family === 'script' ? into : styles.directive
    if (warning && directive)
      warning.message += `; ${directive} allows its whole origin ${origin}, so any ${family === 'script' ? 'script' : 'stylesheet'} that origin serves can load`
  }
  // 'unsafe-inline' in style-src-attr next to a strict style-src-elem is the split recommended for run-time styles.
  weak.delete('style-src-attr')
  for (const directive of weak) {
    warnings.push({
      code: 'unsafe-inline-kept',
      message: `${directive} keeps 'unsafe-inline', so csp-seal added no hashes to it (a hash would switch 'unsafe-inline' off) and inline code there is not protected`,
      file,
      fix: directive.startsWith('style')
        ? "if only run-time styles need it, keep 'unsafe-inline' in style-src-attr and remove it from style-src / style-src-elem"
        : "remove 'unsafe-inline' from it: csp-seal hashes every inline script",
    })
  }
  return { warnings }
}

/** Reporting directives, and csp-seal's policy meta (the policy minus what a meta cannot carry). */
function planMeta(policy: Policy, config: ResolvedConfig, scan: Scan, file: string) {
  const warnings: Problem[] = []
  if (config.report) {
    policy.set('report-uri', [config.report.uri])
    policy.set('report-to', [config.report.group])
  }
  // Browsers ignore a report-only policy in a meta: a report-only policy goes only to the headers.
  if (!config.meta || config.reportOnly) return { edit: { start: scan.metaInsert, end: scan.metaInsert, text: '', meta: true } satisfies Edit, warnings }
  // The default policy's own frame-ancestors is a bonus for header files, not something the user asked for.
  const stripped = [...policy.keys()].filter((name) => HEADER_ONLY_DIRECTIVES.includes(name) && !config.policySource.fromDefault.includes(name))
  // Worth saying only when no header file will carry them (servers can still read them from the manifest).
  if (stripped.length && config.headers.length === 0) {
    warnings.push({
      code: 'header-only-directive',
      message: `${stripped.join(', ')} cannot be set by a meta tag, so the meta tag leaves ${stripped.length === 1 ? 'it' : 'them'} out; only response headers can carry ${stripped.length === 1 ? 'it' : 'them'}`,
      file,
      fix: 'send the headers from csp-seal.json: write header files (--headers netlify,vercel,nginx) or use the server runtime',
    })
  }
  const edit: Edit = { start: scan.metaInsert, end: scan.metaInsert, text: policyMetaTag(policy, { sealed: true }), meta: true }
  return { edit, metaPolicy: metaPolicyOf(policy), warnings }
}
