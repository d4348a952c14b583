import { html as H, type Token } from 'parse5'
import {
  attributeKind,
  emptyScan,
  linkRef,
  neverRunsReported,
  recordAttribute,
  recordMeta,
  recordSrcdoc,
  REPORTING_ELEMENTS,
  RESOURCE_ELEMENTS,
  resourceRefs,
  scriptReport,
  type Context,
  type Namespace,
  type Scan,
  type Tag,
} from '../rules.js'
import { LineIndex } from '../scan.js'
import { tagSet } from './open-element-stack.js'
import { HTML_NS, PendingReport, type OpenElement } from './open-element.js'

/*
 * The page record: what the fast scanner reports about a page, written as the tree builder model inserts and closes
 * elements. Every element is appended to the current node when it is inserted (the model hands pages with foster
 * parenting or adoption-agency moves to the tree scanner), so insertion order is tree order, and the scan comes out
 * in the order `scanHtml` walks the tree. What an element means is decided by the rules of ../rules.ts.
 */

const $ = H.TAG_ID
const NAMESPACES: Namespace[] = ['html', 'svg', 'mathml']
const REPORTING = tagSet(...REPORTING_ELEMENTS.map((name) => H.getTagID(name)))
const RESOURCES = tagSet(...RESOURCE_ELEMENTS.map((name) => H.getTagID(name)))

export class PageRecord {
  readonly scan = emptyScan()
  readonly lines: LineIndex
  /** Scripts and styles reported so far (a `<template>` whose content adds any is reported). */
  code = 0
  /** A script with no text was reported, to be removed at the end (its text arrives after it is reported). */
  emptyScripts = false
  /** The offset of the document's first script, style or link: the policy meta must come before it. */
  firstLoadingElement = Infinity
  // Where the policy meta goes: after a <meta charset> in <head> that precedes every script, style and link; else
  // after the <head> tag, or where the parser opens <head> (its first element), or after <html>, or the doctype.
  charsetEnd: number | undefined
  headTagEnd: number | undefined
  firstInHead: number | undefined
  htmlTagEnd: number | undefined
  doctypeEnd: number | undefined

  constructor(
    readonly html: string,
    /** Scans an `<iframe srcdoc>` document, parsed with scripting on or off. */
    private readonly scanSrcdoc: (srcdoc: string, scripting: boolean) => Scan,
  ) {
    this.lines = new LineIndex(html)
  }

  /**
   * Reports an element made from `token`, now inserted: in `context`, in a document parsed with scripting on or off,
   * from input that starts at `offsetBase` in the page, and while `<head>` is open or not.
   */
  elementInserted(element: OpenElement, token: Token.TagToken, context: Context, scripting: boolean, offsetBase: number, inHead: boolean): void {
    const scan = this.scan
    let tag: Tag | undefined
    for (const attr of token.attrs) {
      const name = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name
      const kind = attributeKind(name, attr.value)
      if (kind !== undefined) recordAttribute(scan, kind, name, attr.value, (tag ??= new TokenTag(token, context, offsetBase, this)), scripting)
    }
    const tagID = element.tagID
    if (RESOURCES[tagID]) scan.resources.push(...resourceRefs(NAMESPACES[element.namespace]!, (tag ??= new TokenTag(token, context, offsetBase, this))))
    if (!REPORTING[tagID]) return
    const html = element.namespace === HTML_NS
    const document = context === 'document'
    if (document && (tagID === $.SCRIPT || tagID === $.STYLE || tagID === $.LINK))
      this.firstLoadingElement = Math.min(this.firstLoadingElement, token.location!.startOffset + offsetBase)
    switch (tagID) {
      case $.SCRIPT: {
        const report = scriptReport(NAMESPACES[element.namespace]!, tag ?? new TokenTag(token, context, offsetBase, this), scripting)
        if (report?.kind === 'external') {
          scan.external.push(report.ref)
          this.code++
        } else if (report?.kind === 'inline') {
          scan.inline.push(report.code)
          element.report = new PendingReport('script', context)
          element.report.code = report.code
        } else if (report?.kind === 'never-runs') {
          scan.neverRuns.push(report.code)
          if (report.code.url !== undefined) return
          element.report = new PendingReport('never-runs', context)
          element.report.code = report.code
        }
        return
      }
      case $.STYLE: {
        const code = { element: 'style' as const, text: '', tag: tag ?? new TokenTag(token, context, offsetBase, this) }
        scan.inline.push(code)
        this.code++
        element.report = new PendingReport('style', context)
        element.report.code = code
        return
      }
      case $.LINK: {
        if (!html) return
        const ref = linkRef(tag ?? new TokenTag(token, context, offsetBase, this))
        if (ref) {
          scan.external.push(ref)
          this.code++
        }
        return
      }
      case $.META:
        if (html && document && recordMeta(scan, (tag ??= new TokenTag(token, context, offsetBase, this)), inHead)) this.charsetEnd = tag.end
        return
      case $.BASE:
        if (html && document && scan.baseHref === undefined) scan.baseHref = (tag ?? new TokenTag(token, context, offsetBase, this)).attrs.get('href')?.value
        return
      case $.IFRAME: {
        const srcdoc = (tag ??= new TokenTag(token, context, offsetBase, this)).attrs.get('srcdoc')
        if (srcdoc !== undefined) this.code += recordSrcdoc(scan, this.scanSrcdoc(srcdoc.value, scripting), tag, scripting)
        return
      }
      case $.TEMPLATE:
        if (!html) return
        element.report = new PendingReport('template', context)
        element.report.before = this.code
        element.report.token = token
        element.report.tag = tag
        return
      case $.NOSCRIPT:
        // With scripting off (inside noscript content) a <noscript> is an element like any other.
        if (html && scripting) element.report = new PendingReport('noscript', context)
        return
    }
  }

  /** Completes what a closed script, style or template reports (the tree builder parses noscript content itself). */
  elementClosed(report: PendingReport, offsetBase: number): void {
    switch (report.kind) {
      case 'script':
        if (report.code!.text !== '') this.code++
        else this.emptyScripts = true
        return
      case 'never-runs':
        if (report.code!.text === '') this.emptyScripts = true
        return
      case 'template':
        if (this.code > report.before) this.scan.templatesWithCode.push(report.tag ?? new TokenTag(report.token!, report.context, offsetBase, this))
        return
    }
  }

  /** The scan, once the tree builder has read the whole page. */
  result(): Scan {
    const scan = this.scan
    if (this.emptyScripts) {
      scan.inline = scan.inline.filter((code) => code.element !== 'script' || code.text !== '')
      scan.neverRuns = scan.neverRuns.filter(neverRunsReported)
    }
    const charsetEnd = this.charsetEnd
    scan.metaInsert =
      charsetEnd !== undefined && charsetEnd <= this.firstLoadingElement
        ? charsetEnd
        : (this.headTagEnd ?? this.firstInHead ?? this.htmlTagEnd ?? this.doctypeEnd ?? 0)
    return scan
  }
}

/**
 * A tag read from its start tag token, as `scanHtml` reads it from the tree. `attrs`, `attrInsert`, `line` and
 * `column` are computed when first read: most tags are reported for a style attribute and never looked at again.
 */
class TokenTag implements Tag {
  readonly name: string
  readonly start: number
  readonly end: number
  readonly nameEnd: number
  readonly editable = true
  readonly #token: Token.TagToken
  readonly #base: number
  readonly #page: PageRecord
  #attrs: Tag['attrs'] | undefined

  constructor(
    token: Token.TagToken,
    readonly context: Context,
    base: number,
    page: PageRecord,
  ) {
    const loc = token.location!
    this.name = token.tagName
    this.start = loc.startOffset + base
    this.end = loc.endOffset + base
    this.nameEnd = this.start + 1 + this.name.length
    this.#token = token
    this.#base = base
    this.#page = page
  }

  get attrs(): Tag['attrs'] {
    if (this.#attrs) return this.#attrs
    const attrLocations = this.#token.location!.attrs
    const base = this.#base
    const attrs: Tag['attrs'] = new Map()
    for (const attr of this.#token.attrs) {
      const name = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name
      // Locations are keyed by the name as tokenized (lowercase): SVG and MathML names (viewBox) are adjusted after.
      const at = attrLocations?.[name] ?? attrLocations?.[name.toLowerCase()]
      attrs.set(name, { value: attr.value, start: (at?.startOffset ?? 0) + base, end: (at?.endOffset ?? 0) + base })
    }
    return (this.#attrs = attrs)
  }

  get attrInsert(): number {
    let lastAttrEnd = 0
    for (const attr of this.attrs.values()) if (attr.end > lastAttrEnd) lastAttrEnd = attr.end
    const end = this.end
    // `<link href=a/>`: the slash belongs to the unquoted value, so insert before `>`.
    const selfClosing = this.#page.html.charCodeAt(end - 2) === 47 /* / */
    return selfClosing && lastAttrEnd < end - 1 ? end - 2 : end - 1
  }

  get line(): number {
    return this.#page.lines.at(this.start).line
  }

  get column(): number {
    return this.#page.lines.at(this.start).column
  }
}

/** A tag as a plain object, every property computed (a copy of a tag read from a token keeps them). */
export function plainTag(tag: Tag): Tag {
  return {
    name: tag.name,
    start: tag.start,
    end: tag.end,
    nameEnd: tag.nameEnd,
    attrInsert: tag.attrInsert,
    line: tag.line,
    column: tag.column,
    attrs: tag.attrs,
    context: tag.context,
    editable: tag.editable,
  }
}
