import ssri from 'ssri'
import type { ResolvedConfig } from '../config.js'
import { allow, allowsSelf } from '../csp/allow.js'
import { cspHash, integrityAccepts, type Digests } from '../csp/hash.js'
import { clonePolicy, mergePolicy, metaPolicyOf, parsePolicy, serializePolicy, HEADER_ONLY_DIRECTIVES, type Policy } from '../csp/policy.js'
import { fastScanHtml } from '../html/fast-scan.js'
import type { ExternalRef, Scan, Tag } from '../html/scan.js'
import { excerpt, SealError, type Problem } from '../problems.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { sealModulePreloads } from './import-map.js'
import { resolveUrl } from './urls.js'

/** Gives the bytes of a file of the site by its path relative to the site root, or undefined if there is none. */
export type AssetReader = (path: string) => Promise<Uint8Array | undefined>

/** Thrown by an asset reader for a path that leads outside the site (a symlink): such files are never read. */
export class OutsideSite extends Error {}

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
}

/** Where the server runtime puts per-response nonces, as UTF-8 byte offsets into the sealed file. */
export interface NonceSlots {
  /** Offsets right after the tag name of `<style>`, `<link>` stylesheets/preloads and external `<script>` tags. */
  tags: number[]
  /** The policy `<meta>` tag's byte range (the runtime swaps it for a `csp-nonce` meta), or an insertion point. */
  meta: [number, number] | number
}

export interface SealedPage {
  file: string
  html: string
  /** `html` as UTF-8: what to write. */
  bytes: Uint8Array
  changed: boolean
  /** Full policy, for headers. */
  policy: Policy
  /** Policy written into the meta tag (header-only directives removed), or undefined when no meta is written. */
  metaPolicy?: Policy
  reportOnlyPolicy?: Policy
  scriptHashes: string[]
  styleHashes: string[]
  attributeHashes: string[]
  /** URL as written → integrity, for local and remote assets that carry one. */
  integrity: Record<string, string>
  /** Remote URLs the page loads scripts or styles from. */
  remote: string[]
  nonceSlots: NonceSlots
  warnings: Problem[]
}

const BOM = '\uFEFF'

/** Seals one page: scan → plan → apply. Throws {@link SealError} with every problem found. */
export async function sealPage(source: string, context: PageContext): Promise<SealedPage> {
  const bom = source.startsWith(BOM) ? BOM : ''
  // parse5 keeps a BOM as text, which would push <head> content into <body>: scan without it.
  const html = bom ? source.slice(1) : source
  const scan = fastScanHtml(html)
  const plan = await planPage(html, scan, context)
  if (plan.errors.length) throw new SealError(plan.errors)
  return applyPlan(bom, html, plan, context.file, context.bytes ?? Buffer.from(source, 'utf8'))
}

/** How a page's external files are allowed: scripts by integrity hash (remembering each hash's origin), or by origin. */
interface ExternalSources {
  scriptHashes: Set<string>
  scriptOrigins: Set<string>
  styleOrigins: Set<string>
  hashOrigins: Map<string, string>
}

interface Edit {
  start: number
  end: number
  text: string
}

interface Plan {
  policy: Policy
  metaPolicy?: Policy
  /** The meta tag written for `metaPolicy`. */
  metaText?: string
  reportOnlyPolicy?: Policy
  edits: Edit[]
  scriptHashes: string[]
  styleHashes: string[]
  attributeHashes: string[]
  integrity: Record<string, string>
  remote: string[]
  slotOffsets: number[]
  metaInsert: number
  errors: Problem[]
  warnings: Problem[]
}

async function planPage(html: string, scan: Scan, { file, config, digests, remote: remoteIntegrity }: PageContext): Promise<Plan> {
  const errors: Problem[] = []
  const warnings: Problem[] = []
  const at = (tag: Tag) => (tag.editable ? { file, line: tag.line, column: tag.column, element: excerpt(html.slice(tag.start, tag.end)) } : { file, element: tag.context === 'srcdoc' ? 'iframe srcdoc' : `<${tag.name}>` })

  const charset = scan.charset?.value
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    errors.push({ code: 'charset', message: `the page declares charset "${charset}"; CSP hashes are computed over UTF-8 text, so csp-seal only seals UTF-8 pages`, ...at(scan.charset!.tag), fix: 'save the page as UTF-8 and declare <meta charset="utf-8">' })
  }

  // The user's policy, merged with the policies already in the page.
  let policy = clonePolicy(config.policy)
  let reportOnlyPolicy: Policy | undefined
  const edits: Edit[] = []
  for (const meta of scan.metas) {
    edits.push({ start: meta.start, end: meta.end, text: '' })
    try {
      const pagePolicy = parsePolicy(meta.content, `${meta.reportOnly ? 'report-only ' : ''}policy meta tag`)
      if (meta.reportOnly) {
        reportOnlyPolicy = mergePolicy(reportOnlyPolicy ?? new Map(), pagePolicy)
        warnings.push({ code: 'report-only-meta', message: 'browsers ignore a report-only policy in a meta tag; it was moved to the Content-Security-Policy-Report-Only header', ...at(meta.tag), fix: 'serve the headers csp-seal writes (--headers) or use the server runtime' })
      } else {
        policy = mergePolicy(policy, pagePolicy)
      }
    } catch (error) {
      if (!(error instanceof SealError)) throw error
      errors.push(...error.problems.map((p) => ({ ...p, ...at(meta.tag), message: p.message })))
    }
  }

  const scriptHashes = new Set<string>()
  const styleHashes = new Set<string>()
  const scriptAttrHashes = new Set<string>()
  const styleAttrHashes = new Set<string>()

  for (const code of scan.inline) {
    ;(code.element === 'script' ? scriptHashes : styleHashes).add(cspHash(code.text, config.hashAlgorithm))
  }
  for (const tag of scan.templatesWithCode) {
    warnings.push({ code: 'template-code', message: '<template> content holds scripts or styles: inert until script clones it; they were hashed so a clone runs', ...at(tag) })
  }
  for (const attr of scan.attributes) {
    if (attr.kind === 'style') {
      if (config.styleAttributes === 'hash') styleAttrHashes.add(cspHash(attr.value, config.hashAlgorithm))
    } else if (attr.kind === 'handler') {
      if (config.eventHandlers === 'hash') scriptAttrHashes.add(cspHash(attr.value, config.hashAlgorithm))
      else warnings.push({ code: 'event-handler', message: `inline event handler ${attr.name}= is blocked by the policy`, ...at(attr.tag), fix: 'move it into a script with addEventListener, or set eventHandlers: "hash" to allow it by hash' })
    } else {
      warnings.push({ code: 'javascript-url', message: `${attr.name}="javascript:…" is blocked by the policy`, ...at(attr.tag), fix: 'use a button with an event listener attached from a script' })
    }
  }

  type Found = { integrity: string; digests?: Digests; what: string } | 'unknown' | 'skip'
  type Where = ReturnType<typeof at>

  /** A file of the site: its digests, or an error (missing) or warning (outside the site). */
  const localFile = async (ref: ExternalRef, path: string, where: Where): Promise<Found> => {
    if (!config.localIntegrity) return 'unknown'
    let asset: Digests | undefined
    try {
      asset = await digests(path)
    } catch (error) {
      if (!(error instanceof OutsideSite)) throw error
      warnings.push({ code: 'outside-site', message: `${ref.url} resolves to "${path}", which leads outside the site folder (${error.message}); it was not read and gets no integrity`, ...where, fix: 'copy the file into the build output instead of linking to it' })
      return 'skip'
    }
    if (asset === undefined) {
      errors.push({ code: 'missing-asset', message: `${ref.url} resolves to "${path}" in the site folder, and there is no such file`, ...where, fix: `check that the build emitted it${config.base !== '/' ? ` and that base (${config.base}) is right` : ' (or set base if the site is served under a sub-path)'}` })
      return 'skip'
    }
    return { integrity: `${config.integrityAlgorithm}-${asset[config.integrityAlgorithm]}`, digests: asset, what: path }
  }

  /** A file on another origin: pinned (fetched or from the lock), or why not. */
  const remoteFile = async (ref: ExternalRef, href: string, where: Where): Promise<Found> => {
    const outcome: RemoteOutcome = remoteIntegrity ? await remoteIntegrity(href) : { kind: 'off' }
    if (outcome.kind === 'changed') {
      errors.push({ code: 'remote-changed', message: `${href} no longer matches the lock file: pinned ${outcome.locked}, fetched ${outcome.fetched}. The CDN may have been tampered with, or the file was updated`, ...where, fix: 'if the change is expected, run again with --update-lock (remote.updateLock) and commit the lock file' })
      return 'skip'
    }
    if (outcome.kind === 'failed') {
      const problem = { code: 'remote-fetch', message: `${href} ${outcome.reason}, so its integrity cannot be computed`, ...where, fix: 'check the URL and the network, pin it in the lock file, or set remote.onFetchError: "warn" (--remote-errors warn) to leave the tag as it is' }
      if (config.remote.onFetchError === 'error') {
        errors.push(problem)
        return 'skip'
      }
      warnings.push(problem)
      return 'unknown'
    }
    if (outcome.kind === 'off') {
      if (!ref.tag.attrs.has('integrity')) warnings.push({ code: 'remote-without-integrity', message: `${href} is loaded from another origin without integrity; it is allowed by its origin ${new URL(href).origin}`, ...where, fix: 'let csp-seal pin it (remote.mode "fetch"), or self-host the file' })
      return 'unknown'
    }
    if (outcome.unverified) warnings.push({ code: 'remote-unverified', message: `${href} ${outcome.unverified}`, ...where })
    if (outcome.noCors) warnings.push({ code: 'remote-no-cors', message: `${href} was served without Access-Control-Allow-Origin; browsers refuse a cross-origin file with integrity unless its server allows CORS`, ...where, fix: 'use a CDN that sends CORS headers, or self-host the file' })
    return { integrity: outcome.integrity, digests: outcome.digests, what: `the bytes ${href} serves` }
  }

  // External scripts and styles: integrity from the final bytes, and the sources that allow them.
  const integrityValues: Record<string, string> = {}
  const remote = new Set<string>()
  const allowed: ExternalSources = { scriptHashes: new Set(), scriptOrigins: new Set(), styleOrigins: new Set(), hashOrigins: new Map() }
  const slotOffsets: number[] = []
  for (const ref of scan.external) {
    if (ref.tag.editable && ref.tag.context === 'document') slotOffsets.push(ref.tag.nameEnd)
    if (ref.tag.context === 'srcdoc') continue
    const target = resolveUrl(ref.url, file, scan.baseHref, config.base, config.localUrls)
    if (target.kind === 'unsupported') {
      warnings.push({ code: 'unsupported-url', message: `${excerpt(ref.url, 60)} ${target.reason}; csp-seal leaves it to your policy`, ...at(ref.tag) })
      continue
    }
    if (target.kind === 'remote') remote.add(target.url.href)
    const origin = target.kind === 'local' ? target.crossOrigin : target.url.origin
    if (ref.noCors && origin) {
      // An SVG <script href> is fetched without CORS (no crossorigin), and browsers check its integrity: from another
      // origin that check can only fail (measured in Chromium). Allow it by origin and add nothing to the tag.
      const refused = ref.tag.attrs.has('integrity') ? '; its integrity attribute makes browsers refuse it' : ''
      warnings.push({ code: 'svg-script-origin', message: `SVG <script href="${excerpt(ref.url, 60)}"> loads from another origin without CORS, so it cannot carry integrity; it is allowed by its origin ${origin}${refused}`, ...at(ref.tag), fix: 'self-host the file, or load it with an HTML <script src>' })
      allowed.scriptOrigins.add(origin)
      continue
    }
    const found = target.kind === 'local' ? await localFile(ref, target.path, at(ref.tag)) : await remoteFile(ref, target.url.href, at(ref.tag))
    if (found === 'skip') continue
    const existing = ref.tag.attrs.get('integrity')?.value
    let integrity = existing
    if (found !== 'unknown') {
      if (existing !== undefined) {
        const accepted = found.digests ? integrityAccepts(existing, found.digests) : existing.trim() === found.integrity
        if (accepted !== true) {
          errors.push({ code: 'integrity-mismatch', message: `integrity="${excerpt(existing, 40)}" ${accepted === undefined ? 'is not a valid integrity value' : `does not match ${found.what} (${found.integrity})`}; browsers would refuse to load it`, ...at(ref.tag), fix: 'remove the integrity attribute and let csp-seal compute it, or rebuild so the page and file agree' })
          continue
        }
      } else if (ref.tag.editable) {
        edits.push({ start: ref.tag.attrInsert, end: ref.tag.attrInsert, text: ` integrity="${found.integrity}"` })
        integrity = found.integrity
      }
      // Integrity on a cross-origin file needs a CORS request, or the browser refuses the file.
      if (origin && ref.tag.editable && !ref.tag.attrs.has('crossorigin')) edits.push({ start: ref.tag.attrInsert, end: ref.tag.attrInsert, text: ' crossorigin="anonymous"' })
    }
    if (integrity) integrityValues[ref.url] = integrity
    if (ref.destination === 'style') {
      if (origin) allowed.styleOrigins.add(origin)
    } else if (origin && !(integrity && found !== 'unknown' && config.remote.allow === 'integrity')) {
      allowed.scriptOrigins.add(origin)
    } else if (integrity && (origin || !allowsSelf(policy, 'script-src-elem'))) {
      // Allowed by its own hash (CSP3): nothing else on that origin can run, and 'strict-dynamic' lets it load.
      for (const hash of integrityHashes(integrity)) {
        allowed.scriptHashes.add(hash)
        if (origin) allowed.hashOrigins.set(hash, origin)
      }
    }
  }
  if (!allowsSelf(policy, 'style-src-elem') && scan.external.some((r) => r.destination === 'style' && r.tag.context !== 'srcdoc')) {
    warnings.push({ code: 'stylesheet-not-allowed', message: 'the policy does not allow same-origin stylesheets, and stylesheets cannot be allowed by hash', file, fix: "add 'self' to style-src (or style-src-elem)" })
  }

  // Hook (./import-map.ts): what hash-allowed inline modules import under 'strict-dynamic' is preloaded with integrity.
  const preloads = await sealModulePreloads(scan, policy, { file, config, digests, remote: remoteIntegrity, locate: at })
  errors.push(...preloads.errors)
  warnings.push(...preloads.warnings)
  for (const hash of preloads.scriptHashes) allowed.scriptHashes.add(hash)

  const weak = new Set<string>()
  const record = (outcome: { keptUnsafeInline?: string }) => outcome.keptUnsafeInline && weak.add(outcome.keptUnsafeInline)
  const scripts = allow(policy, 'script', 'elem', [...scriptHashes, ...allowed.scriptHashes, ...allowed.scriptOrigins])
  record(scripts)
  // Where the user keeps 'unsafe-inline' for scripts no hash can be added: fall back to the files' origins.
  if (scripts.keptUnsafeInline) allow(policy, 'script', 'elem', [...new Set(allowed.hashOrigins.values())])
  record(allow(policy, 'style', 'elem', [...styleHashes, ...allowed.styleOrigins]))
  if (scriptAttrHashes.size) record(allow(policy, 'script', 'attr', ["'unsafe-hashes'", ...scriptAttrHashes]))
  if (styleAttrHashes.size) record(allow(policy, 'style', 'attr', ["'unsafe-hashes'", ...styleAttrHashes]))
  for (const directive of weak) {
    warnings.push({ code: 'unsafe-inline-kept', message: `${directive} keeps 'unsafe-inline', so csp-seal added no hashes to it (a hash would switch 'unsafe-inline' off) and inline code there is not protected`, file, fix: directive.startsWith('style') ? "if only run-time styles need it, keep 'unsafe-inline' in style-src-attr and remove it from style-src / style-src-elem" : "remove 'unsafe-inline' from it: csp-seal hashes every inline script" })
  }
  for (const code of scan.inline) if (code.tag.editable && code.tag.context === 'document' && code.element === 'style') slotOffsets.push(code.tag.nameEnd)

  if (config.report) {
    policy.set('report-uri', [config.report.uri])
    policy.set('report-to', [config.report.group])
  }

  let metaPolicy: Policy | undefined
  let metaText: string | undefined
  if (config.meta && !config.reportOnly) {
    metaPolicy = metaPolicyOf(policy)
    const stripped = [...policy.keys()].filter((name) => HEADER_ONLY_DIRECTIVES.includes(name))
    // Worth saying only when no header file will carry them (servers can still read them from the manifest).
    if (stripped.length && config.headers.length === 0) {
      warnings.push({ code: 'header-only-directive', message: `${stripped.join(', ')} cannot be set by a meta tag, so the meta tag leaves ${stripped.length === 1 ? 'it' : 'them'} out; only response headers can carry ${stripped.length === 1 ? 'it' : 'them'}`, file, fix: 'send the headers from csp-seal.json: write header files (--headers netlify,vercel,nginx) or use the server runtime' })
    }
    edits.push({ start: scan.metaInsert, end: scan.metaInsert, text: (metaText = metaTag(metaPolicy)) })
  }
  // Hook (./import-map.ts), continued: pushed after the meta tag, which comes first where both insert at one offset.
  edits.push(...preloads.edits)

  return {
    policy, metaPolicy, metaText, reportOnlyPolicy, edits, errors, warnings, remote: [...remote], slotOffsets,
    scriptHashes: [...scriptHashes], styleHashes: [...styleHashes], attributeHashes: [...scriptAttrHashes, ...styleAttrHashes],
    integrity: integrityValues, metaInsert: scan.metaInsert,
  }
}

/** The hash sources that allow a script by its integrity metadata (CSP3 external hashes). */
function integrityHashes(integrity: string): string[] {
  const parsed = ssri.parse(integrity, { strict: true })
  return Object.values(parsed ?? {}).flat().map((hash) => `'${hash.algorithm}-${hash.digest}'`)
}

/** The meta tag for a policy; attribute-escaped (policies never hold `"`, but be exact). */
export function metaTag(policy: Policy): string {
  const content = serializePolicy(policy).replace(/&/g, '&amp;').replace(/"/g, '&quot;')
  return `<meta http-equiv="Content-Security-Policy" content="${content}">`
}

function applyPlan(bom: string, html: string, plan: Plan, file: string, source: Uint8Array): SealedPage {
  const edits = [...plan.edits].sort((a, b) => a.start - b.start || a.end - b.end)
  const spliced = splice(html, source, bom ? 3 : 0, edits, [...plan.slotOffsets, plan.metaInsert], plan.metaText)
  const bytes = spliced.bytes
  const metaByteStart = spliced.offsets.pop()!
  let sealed: string | undefined
  return {
    file,
    // Most callers write the bytes: the text is spliced only when asked (decoding the bytes would cost more).
    get html() {
      return (sealed ??= bom + spliceText(html, edits))
    },
    bytes,
    changed: !bytes.equals(source),
    policy: plan.policy,
    metaPolicy: plan.metaPolicy,
    reportOnlyPolicy: plan.reportOnlyPolicy,
    scriptHashes: plan.scriptHashes,
    styleHashes: plan.styleHashes,
    attributeHashes: plan.attributeHashes,
    integrity: plan.integrity,
    remote: plan.remote,
    nonceSlots: { tags: spliced.offsets.sort((a, b) => a - b), meta: spliced.meta ?? metaByteStart },
    warnings: plan.warnings,
  }
}

/** Applies sorted, non-overlapping edits to `html`. */
function spliceText(html: string, edits: Edit[]): string {
  let text = ''
  let cursor = 0
  for (const edit of edits) {
    text += html.slice(cursor, edit.start) + edit.text
    cursor = Math.max(cursor, edit.end)
  }
  return text + html.slice(cursor)
}

/**
 * Applies sorted, non-overlapping edits of `html` to `source`, its UTF-8 bytes after `skip` bytes (a BOM):
 * untouched bytes are copied as they are, only inserted text is encoded. Also gives the sealed byte offset
 * of each of `points` (offsets in `html` that lie outside removed text; one shared with an insertion comes
 * before it) and the byte range of the inserted text equal to `metaText`.
 */
function splice(html: string, source: Uint8Array, skip: number, edits: Edit[], points: number[], metaText: string | undefined) {
  const ascii = source.length - skip === html.length
  const pieces: Uint8Array[] = [source.subarray(0, skip)]
  let cursor = 0
  let cursorByte = skip
  let length = skip
  const byteAt = (offset: number) => cursorByte + (ascii ? offset - cursor : Buffer.byteLength(html.slice(cursor, offset), 'utf8'))
  const copyTo = (offset: number) => {
    if (offset <= cursor) return
    const end = byteAt(offset)
    pieces.push(source.subarray(cursorByte, end))
    length += end - cursorByte
    cursor = offset
    cursorByte = end
  }
  const order = points.map((offset, index) => ({ offset, index })).sort((a, b) => a.offset - b.offset)
  const offsets = new Array<number>(points.length)
  let next = 0
  const placePoints = (before: (offset: number) => boolean) => {
    for (let point = order[next]; point && before(point.offset); point = order[++next]) {
      copyTo(point.offset)
      offsets[point.index] = length
    }
  }
  let meta: [number, number] | undefined
  for (const edit of edits) {
    placePoints((offset) => offset < edit.start || (offset === edit.start && edit.end === edit.start))
    copyTo(edit.start)
    if (edit.text) {
      const text = Buffer.from(edit.text, 'utf8')
      if (edit.text === metaText) meta = [length, length + text.length]
      pieces.push(text)
      length += text.length
    }
    if (edit.end > cursor) {
      cursorByte = byteAt(edit.end)
      cursor = edit.end
    }
  }
  placePoints(() => true)
  copyTo(html.length)
  return { bytes: Buffer.concat(pieces, length), offsets, meta }
}

export type { ExternalRef }
