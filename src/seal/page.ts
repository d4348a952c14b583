import type { ResolvedConfig } from '../config.js'
import type { ExtraHashes } from '../csp/inline.js'
import type { Policy } from '../csp/policy.js'
import { fastScanHtml } from '../html/fast-scan.js'
import { SealError, type Problem } from '../problems.js'
import type { Digests } from '../sri/integrity.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { planPage, type Plan } from './plan.js'
import { sortEdits, splice, spliceText } from './splice.js'

/** Where the server runtime puts per-response nonces, as UTF-8 byte offsets into the sealed file. */
export interface NonceSlots {
  /** Offsets right after the tag name of `<style>`, `<link>` stylesheets/preloads and external `<script>` tags. */
  tags: number[]
  /**
   * The byte range of csp-seal's own policy `<meta>` tag (the runtime swaps it for a `csp-nonce` meta), or where
   * that meta goes when none is written. A page's own CSP meta is never in it: it stays in the page.
   */
  meta: [number, number] | number
  /**
   * Offsets right after the tag name of an Angular app's root element (`<app-root`): the runtime adds
   * ` ngCspNonce="…"` there, where Angular reads the nonce for the styles it inserts. Absent when there is none.
   */
  ngCspNonce?: number[]
}

/** What a sealed page holds that its manifest entry records as it is. */
export interface PageHashes {
  scriptHashes: string[]
  styleHashes: string[]
  attributeHashes: string[]
  /** URL as written → integrity, for local and remote files that carry one. */
  integrity: Record<string, string>
  /** Remote URLs the page loads scripts or styles from. */
  remote: string[]
  nonceSlots: NonceSlots
}

/** What the manifest records of a sealed page (a `SealedPage` is one): the policy as parsed, and the sealed bytes. */
export interface PageRecord extends PageHashes {
  policy: Policy
  /** The sealed page's bytes, for its digest when the caller does not give one. */
  bytes: Uint8Array
}

/**
 * Gives the bytes of a file of the site by its path relative to the site root, or undefined if there is none.
 * It throws a `RefusedFile` (src/safe-fs.ts) for a file it will not read: outside the site, not regular, too large.
 */
export type AssetReader = (path: string) => Promise<Uint8Array | undefined>

export interface PageContext {
  /** The page's path relative to the site root, posix (`docs/index.html`): resolves URLs, names the page in messages. */
  file: string
  config: ResolvedConfig
  /** Digests of a local asset, or undefined if there is none (cached by the caller: each asset is hashed once per run). */
  digests: (path: string) => Promise<Digests | undefined>
  /** Integrity of a remote URL (fetched, pinned, cached); without it remote files are allowed by origin. */
  remote?: (url: string) => Promise<RemoteOutcome>
  /** The bytes the page was read as (`source` is their UTF-8 decoding): the sealed bytes are spliced from them. */
  bytes?: Uint8Array
  /** Hashes the page needs beyond its own inline code (see {@link ExtraHashes}). */
  extraHashes?: ExtraHashes
  /** Element names of the site's Angular components: the page's first one (the app root) gets an `ngCspNonce` slot. */
  angularRoots?: readonly string[]
}

/** A sealed page: what the manifest records of it ({@link PageRecord}), its text, and what to report. */
export interface SealedPage extends PageRecord {
  file: string
  html: string
  /** `html` as UTF-8: what to write. */
  bytes: Uint8Array
  changed: boolean
  /** csp-seal's policy, for headers. The page's own CSP metas, if any, stay in the page as policies of their own. */
  policy: Policy
  /** Policy written into csp-seal's meta tag (header-only directives removed), or undefined when no meta is written. */
  metaPolicy?: Policy
  /** The attribute hashes by directive (`attributeHashes` holds both). */
  scriptAttributeHashes: string[]
  styleAttributeHashes: string[]
  warnings: Problem[]
  /**
   * Why the page was scanned from parse5's tree rather than by the fast model (constructs the model does not
   * follow); empty for almost every page. Counted in the summary and listed in `--report`.
   */
  treeScan: string[]
}

const BOM = '\uFEFF'

/** Seals one page: scan → plan → apply. Throws {@link SealError} with every problem found. */
export async function sealPage(source: string, context: PageContext): Promise<SealedPage> {
  const bom = source.startsWith(BOM) ? BOM : ''
  // parse5 keeps a BOM as text, which would push <head> content into <body>: scan without it.
  const html = bom ? source.slice(1) : source
  const scan = fastScanHtml(html)
  const plan = await planPage(html, scan, { ...context, bom: bom !== '' })
  if (plan.errors.length) throw new SealError(plan.errors)
  return applyPlan(bom, html, plan, context.file, context.bytes ?? Buffer.from(source, 'utf8'), scan.fallbacks)
}

/** Applies the plan's edits to the page's bytes (every other byte as it was), and records where nonces go. */
function applyPlan(bom: string, html: string, plan: Plan, file: string, source: Uint8Array, treeScan: string[]): SealedPage {
  const edits = sortEdits(plan.edits)
  const spliced = splice(html, source, bom ? 3 : 0, edits, [...plan.slots, ...plan.rootSlots])
  const tags = spliced.offsets.slice(0, plan.slots.length).sort((a, b) => a - b)
  const roots = spliced.offsets.slice(plan.slots.length)
  const bytes = spliced.bytes
  let sealed: string | undefined
  return {
    file,
    // Most callers write the bytes: the text is spliced only when asked (decoding the bytes would cost more). A
    // spread of the result would ask, on every page: pass what it needs in rather than spreading it.
    get html() {
      return (sealed ??= bom + spliceText(html, edits))
    },
    bytes,
    changed: !bytes.equals(source),
    policy: plan.policy,
    metaPolicy: plan.metaPolicy,
    scriptHashes: plan.scriptHashes,
    styleHashes: plan.styleHashes,
    attributeHashes: plan.attributeHashes,
    scriptAttributeHashes: plan.scriptAttributeHashes,
    styleAttributeHashes: plan.styleAttributeHashes,
    integrity: plan.integrity,
    remote: plan.remote,
    nonceSlots: { tags, meta: spliced.meta, ...(roots.length ? { ngCspNonce: roots } : {}) },
    warnings: plan.warnings,
    treeScan,
  }
}
