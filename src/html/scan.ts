import { html as H, InsertionMode, Parser, type DefaultTreeAdapterMap, type ParserOptions, type Token } from 'parse5'

type Node = DefaultTreeAdapterMap['node']
type Element = DefaultTreeAdapterMap['element']
type ParentNode = DefaultTreeAdapterMap['parentNode']

const $ = H.TAG_ID
const IMPLIED_END = new Set([$.DD, $.DT, $.LI, $.OPTGROUP, $.OPTION, $.P, $.RB, $.RP, $.RT, $.RTC])
/** The elements that select an insertion mode when it is reset; `<select>` no longer does. */
const MODE_ELEMENTS = [$.TR, $.TBODY, $.THEAD, $.TFOOT, $.CAPTION, $.COLGROUP, $.TABLE, $.FRAMESET, $.TEMPLATE, $.TD, $.TH, $.HEAD, $.BODY, $.HTML]

/**
 * parse5's tree builder, made to build what browsers build where parse5 8 still follows an older standard.
 *
 * `<select>`: parse5 has the old "in select" insertion mode, which drops every element but `<option>`, `<optgroup>`,
 * `<hr>`, `<script>` and `<template>` (a `<style>`, a `<div style>`, an `<svg>` inside a select were not in the
 * tree). Browsers with customizable select parse select content "in body" (the HTML standard's new rules; measured
 * in Chromium 156): those elements are kept and their styles, attributes and scripts apply, so they must be hashed
 * or reported. This follows the standard's rules, which Chromium's trees match: no select modes,
 * `<select>` bounds element scopes, and `<select>`, `<option>`, `<optgroup>`, `<hr>`, `<input>` and `</select>`
 * act on a select in scope. Browsers still on the old parser drop what is kept here; hashing it is harmless.
 */
class BrowserParser extends Parser<DefaultTreeAdapterMap> {
  /** The insertion mode a `<select>` was inserted in (parse5 then switches to "in select"; it should stay). */
  private selectMode = InsertionMode.IN_BODY

  constructor(...args: ConstructorParameters<typeof Parser<DefaultTreeAdapterMap>>) {
    super(...args)
    // An open select ends the default, list item and button scopes (not table or select scope).
    const stack = this.openElements
    const selectAbove = (slot: number) => stack.indexOfTopmost($.SELECT) > slot
    const { hasInScope, hasInListItemScope, hasInButtonScope, hasNumberedHeaderInScope } = stack
    stack.hasInScope = (tag, element) =>
      (tag === $.SELECT || !selectAbove(element ? stack._indexOf(element) : stack.indexOfTopmost(tag))) && hasInScope.call(stack, tag, element)
    stack.hasInListItemScope = (tag) => !selectAbove(stack.indexOfTopmost(tag)) && hasInListItemScope.call(stack, tag)
    stack.hasInButtonScope = (tag) => !selectAbove(stack.indexOfTopmost(tag)) && hasInButtonScope.call(stack, tag)
    stack.hasNumberedHeaderInScope = () => !selectAbove(stack.indexOfTopmostOf([$.H1, $.H2, $.H3, $.H4, $.H5, $.H6])) && hasNumberedHeaderInScope.call(stack)
  }

  // parse5 turns a run of NULs in foreign content into one U+FFFD; browsers replace each NUL (the CSP hash differs).
  // Elsewhere (HTML text) Chromium drops a NUL before tokenizing: it does not end <head> (a CSP meta after it still
  // counts), make the page quirky, or cancel the newline skipped after <pre>, as parse5's NUL token would.
  override onNullCharacter(token: Token.CharacterToken): void {
    if (!this.tokenizer.inForeignNode) return
    this.skipNextNewLine = false
    token.chars = '\uFFFD'.repeat(token.chars.length)
    this._insertCharacters(token)
  }

  override _insertElement(token: Token.TagToken, namespaceURI: H.NS): void {
    if (token.tagID === $.SELECT && namespaceURI === H.NS.HTML) this.selectMode = this.insertionMode
    super._insertElement(token, namespaceURI)
  }

  override _startTagOutsideForeignContent(token: Token.TagToken): void {
    const tag = token.tagID
    if ((tag === $.SELECT || tag === $.OPTION || tag === $.OPTGROUP || tag === $.HR || tag === $.INPUT) && this.inBodyWithSelect(token)) {
      return this.startTagInSelect(token)
    }
    super._startTagOutsideForeignContent(token)
    if (this.insertionMode === InsertionMode.IN_SELECT || this.insertionMode === InsertionMode.IN_SELECT_IN_TABLE) this.insertionMode = this.selectMode
  }

  override _endTagOutsideForeignContent(token: Token.TagToken): void {
    // </select> closes a select in scope, whatever is open inside it (parse5 would treat it as any other end tag).
    if (token.tagID === $.SELECT && this.inBodyWithSelect(token)) this.openElements.popUntilTagNamePopped($.SELECT)
    else super._endTagOutsideForeignContent(token)
  }

  /** Whether a select is in scope and the token goes to the "in body" rules (directly or from a table mode). */
  private inBodyWithSelect(token: Token.TagToken): boolean {
    if (!this.openElements.hasInScope($.SELECT)) return false
    switch (this.insertionMode) {
      case InsertionMode.IN_BODY:
      case InsertionMode.IN_CAPTION:
      case InsertionMode.IN_CELL:
        return true
      case InsertionMode.IN_TABLE:
      case InsertionMode.IN_TABLE_BODY:
      case InsertionMode.IN_ROW:
        // "In table" inserts a hidden input where it is, without the "in body" rules.
        return !(token.tagID === $.INPUT && token.attrs.some((a) => a.name === 'type' && a.value.toLowerCase() === 'hidden'))
      default:
        return false
    }
  }

  /** The standard's "in body" rules for these start tags with a select in scope. */
  private startTagInSelect(token: Token.TagToken): void {
    const stack = this.openElements
    switch (token.tagID) {
      case $.SELECT:
        // A nested select is ignored, and closes the open one.
        return stack.popUntilTagNamePopped($.SELECT)
      case $.INPUT:
        stack.popUntilTagNamePopped($.SELECT)
        return this._startTagOutsideForeignContent(token)
      case $.OPTION:
        while (stack.currentTagId !== $.OPTGROUP && IMPLIED_END.has(stack.currentTagId!) && this.treeAdapter.getNamespaceURI(stack.current as Element) === H.NS.HTML) stack.pop()
        break
      case $.HR:
        if (stack.hasInButtonScope($.P)) this._closePElement()
        stack.generateImpliedEndTags()
        this._appendElement(token, H.NS.HTML)
        this.framesetOk = false
        token.ackSelfClosing = true
        return
      default: // optgroup
        stack.generateImpliedEndTags()
    }
    this._reconstructActiveFormattingElements()
    this._insertElement(token, H.NS.HTML)
  }

  override _resetInsertionMode(): void {
    const stack = this.openElements
    const i = stack.indexOfTopmostOf(MODE_ELEMENTS)
    const context = i === 0 && this.fragmentContext
    const tag = context ? this.fragmentContextID : stack.tagIDs[i]
    const node = context ? this.fragmentContext : stack.items[i]
    if (node && this.treeAdapter.getNamespaceURI(node as Element) === H.NS.HTML) {
      switch (tag) {
        case $.TR: this.insertionMode = InsertionMode.IN_ROW; return
        case $.TBODY: case $.THEAD: case $.TFOOT: this.insertionMode = InsertionMode.IN_TABLE_BODY; return
        case $.CAPTION: this.insertionMode = InsertionMode.IN_CAPTION; return
        case $.COLGROUP: this.insertionMode = InsertionMode.IN_COLUMN_GROUP; return
        case $.TABLE: this.insertionMode = InsertionMode.IN_TABLE; return
        case $.BODY: this.insertionMode = InsertionMode.IN_BODY; return
        case $.FRAMESET: this.insertionMode = InsertionMode.IN_FRAMESET; return
        case $.TEMPLATE: this.insertionMode = this.tmplInsertionModeStack[this.tmplInsertionModeStack.length - 1]!; return
        case $.HTML: this.insertionMode = this.headElement ? InsertionMode.AFTER_HEAD : InsertionMode.BEFORE_HEAD; return
        case $.TD: case $.TH: if (i > 0) { this.insertionMode = InsertionMode.IN_CELL; return } break
        case $.HEAD: if (i > 0) { this.insertionMode = InsertionMode.IN_HEAD; return } break
      }
    }
    this.insertionMode = InsertionMode.IN_BODY
  }
}

/**
 * Parses a document as browsers do (see {@link BrowserParser}).
 * @internal
 */
export function parse(html: string, options: ParserOptions<DefaultTreeAdapterMap>): DefaultTreeAdapterMap['document'] {
  return BrowserParser.parse(html, options)
}

function parseFragment(html: string, options: ParserOptions<DefaultTreeAdapterMap>): DefaultTreeAdapterMap['documentFragment'] {
  const parser = BrowserParser.getFragmentParser(null, options)
  parser.tokenizer.write(html, true)
  return parser.getFragment()
}

/**
 * Where an element sits: in the document itself, inside `<template>` content (inert until cloned),
 * inside `<noscript>` (parsed as HTML only with scripting off), or inside an `<iframe srcdoc>` document
 * (which inherits the page's policy but cannot be edited in place).
 */
export type Context = 'document' | 'template' | 'noscript' | 'srcdoc'

/** A start tag as written: its offsets in the scanned text and where new attributes can go. */
export interface Tag {
  name: string
  start: number
  end: number
  /** Offset right after the tag name: a nonce attribute goes here. */
  nameEnd: number
  /** Offset where an added attribute is inserted (before `>` or `/>`). */
  attrInsert: number
  line: number
  column: number
  attrs: Map<string, { value: string; start: number; end: number }>
  context: Context
  /** Tag offsets are only meaningful (editable) outside srcdoc documents. */
  editable: boolean
}

export type ScriptType = 'classic' | 'module' | 'importmap' | 'speculationrules'

/** An inline `<script>` or `<style>` whose text the browser checks against the policy. */
export interface InlineCode {
  element: 'script' | 'style'
  /** Script type; undefined for styles. */
  type?: ScriptType
  /** The text exactly as the browser's parser yields it (newlines normalised, NUL replaced, SVG entities decoded). */
  text: string
  tag: Tag
}

/** A `<script src>` or `<link>` that loads a script or stylesheet. */
export interface ExternalRef {
  element: 'script' | 'link'
  /** What the browser fetches it as. */
  destination: 'script' | 'style'
  /** `stylesheet`, `modulepreload`, `preload`, or `script` for `<script src>` (and SVG `<script href>`). */
  rel: 'script' | 'stylesheet' | 'modulepreload' | 'preload'
  url: string
  tag: Tag
  /**
   * Fetched without CORS whatever its attributes: an SVG `<script href>` (it has no `crossorigin`). Browsers check
   * its `integrity`, which therefore works on the page's own origin only; from another origin it can only fail.
   */
  noCors?: true
}

/** An attribute the policy governs: `style="…"`, an `on…` handler, or a `javascript:` URL. */
export interface InlineAttribute {
  kind: 'style' | 'handler' | 'javascript-url'
  name: string
  value: string
  tag: Tag
}

export interface CspMeta {
  content: string
  reportOnly: boolean
  start: number
  end: number
  tag: Tag
}

export interface Scan {
  inline: InlineCode[]
  external: ExternalRef[]
  attributes: InlineAttribute[]
  /** `<meta http-equiv=Content-Security-Policy[-Report-Only]>` elements in `<head>` (the ones browsers read). */
  metas: CspMeta[]
  /** Where the policy meta tag goes: after `<meta charset>` or at the start of `<head>`. */
  metaInsert: number
  /** Declared charset (lowercase), if any. */
  charset?: { value: string; tag: Tag }
  /** First `<base href>`, which changes how relative URLs resolve. */
  baseHref?: string
  /** Number of `<template>` elements holding scripts or styles (reported: inert until cloned). */
  templatesWithCode: Tag[]
}

const SVG_NS = 'http://www.w3.org/2000/svg'
const MATHML_NS = 'http://www.w3.org/1998/Math/MathML'

/** MIME types for which a `<script>` is JavaScript (HTML §4.12.1.1, "JavaScript MIME type essence match"). */
const JS_MIME = new Set([
  'application/ecmascript', 'application/javascript', 'application/x-ecmascript', 'application/x-javascript',
  'text/ecmascript', 'text/javascript', 'text/javascript1.0', 'text/javascript1.1', 'text/javascript1.2',
  'text/javascript1.3', 'text/javascript1.4', 'text/javascript1.5', 'text/jscript', 'text/livescript',
  'text/x-ecmascript', 'text/x-javascript',
])

const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'background'])

/** The script type the browser would run this element as, or undefined for a data block. */
export function scriptType(attrs: ReadonlyMap<string, { value: string }>): ScriptType | undefined {
  const typeAttr = attrs.get('type')?.value
  const language = attrs.get('language')?.value
  let type: string
  if (typeAttr === undefined) type = language === undefined || language === '' ? '' : `text/${language}`
  else type = typeAttr
  type = type.trim().toLowerCase()
  if (type === '' || JS_MIME.has(type)) return 'classic'
  if (type === 'module' || type === 'importmap' || type === 'speculationrules') return type
  return undefined
}

/**
 * Scans a document (already stripped of a UTF-8 BOM) for everything a CSP governs, with exact offsets
 * into `html`. One parse; `<noscript>` raw text and `srcdoc` documents are parsed as the browser would
 * parse them in their own contexts.
 */
export function scanHtml(html: string): Scan {
  const scan: Scan = { inline: [], external: [], attributes: [], metas: [], metaInsert: 0, templatesWithCode: [] }
  const lines = new LineIndex(html)
  const doc = parse(html, { sourceCodeLocationInfo: true })
  let head: Element | undefined
  let firstLoadingElement = Infinity // offset of the first script/style/link (the meta must precede it)
  let charsetEnd: number | undefined

  // Depth-first in document order with an explicit stack: pages nested 100,000 deep must not overflow the call stack.
  // `scripting`: whether this tree was parsed with scripting on (the page) or off (`<noscript>` content).
  interface Frame { parent: ParentNode; index: number; context: Context; offsetBase: number; editable: boolean; inHead: boolean; scripting: boolean; done?: () => void }
  const stack: Frame[] = []
  const visit = (parent: ParentNode, context: Context, offsetBase: number, editable: boolean, inHead: boolean, scripting: boolean, done?: () => void) => {
    stack.push({ parent, index: 0, context, offsetBase, editable, inHead, scripting, done })
  }
  const walk = () => {
    while (stack.length) {
      const frame = stack[stack.length - 1]!
      if (frame.index >= frame.parent.childNodes.length) {
        stack.pop()
        frame.done?.()
        continue
      }
      const node = frame.parent.childNodes[frame.index++]!
      const { context, offsetBase, editable, inHead, scripting } = frame
      if (!isElement(node)) continue
      const tag = tagOf(node, context, offsetBase, editable, lines, html)
      const name = node.tagName
      const foreign = node.namespaceURI === SVG_NS || node.namespaceURI === MATHML_NS
      if (name === 'head' && context === 'document') head = node
      if (tag) scanAttributes(node, tag, scan)

      if (tag && (name === 'script' || name === 'style' || name === 'link') && context === 'document') {
        firstLoadingElement = Math.min(firstLoadingElement, tag.start)
      }
      if (tag && name === 'script') {
        // As Chromium runs them: an SVG script reads `type` but not `language`, and loads `href` (else `xlink:href`),
        // not `src`; a MathML script never runs (its text is hashed anyway, which is harmless).
        const svg = node.namespaceURI === SVG_NS
        const type = !foreign || (svg && tag.attrs.has('type')) ? scriptType(tag.attrs) : 'classic'
        const src = svg ? tag.attrs.get('href')?.value ?? tag.attrs.get('xlink:href')?.value : foreign ? undefined : tag.attrs.get('src')?.value
        if (type && src !== undefined && type !== 'importmap' && type !== 'speculationrules') {
          scan.external.push(svg ? { element: 'script', destination: 'script', rel: 'script', url: src, tag, noCors: true } : { element: 'script', destination: 'script', rel: 'script', url: src, tag })
        } else if (type && src === undefined) {
          const text = childText(node)
          if (text !== '') scan.inline.push({ element: 'script', type, text, tag })
        }
      } else if (tag && name === 'style') {
        scan.inline.push({ element: 'style', text: childText(node), tag })
      } else if (tag && name === 'link' && !foreign) {
        const ref = linkRef(tag)
        if (ref) scan.external.push(ref)
      } else if (tag && name === 'meta' && !foreign && context === 'document') {
        const httpEquiv = tag.attrs.get('http-equiv')?.value.trim().toLowerCase()
        const content = tag.attrs.get('content')?.value
        if ((httpEquiv === 'content-security-policy' || httpEquiv === 'content-security-policy-report-only') && content !== undefined && inHead) {
          scan.metas.push({ content, reportOnly: httpEquiv.endsWith('report-only'), start: tag.start, end: tag.end, tag })
        }
        const charset = tag.attrs.get('charset')?.value ?? (httpEquiv === 'content-type' ? /charset\s*=\s*["']?([^\s"';]+)/i.exec(content ?? '')?.[1] : undefined)
        if (charset !== undefined && !scan.charset) {
          scan.charset = { value: charset.trim().toLowerCase(), tag }
          if (inHead) charsetEnd = tag.end
        }
      } else if (tag && name === 'base' && !foreign && context === 'document' && scan.baseHref === undefined) {
        scan.baseHref = tag.attrs.get('href')?.value
      } else if (tag && name === 'iframe' && tag.attrs.has('srcdoc')) {
        visitSrcdoc(tag.attrs.get('srcdoc')!.value, tag)
      }

      if (name === 'template' && !foreign) {
        const content = (node as DefaultTreeAdapterMap['template']).content
        const before = scan.inline.length + scan.external.length
        visit(content, context === 'document' ? 'template' : context, offsetBase, editable, false, scripting, () => {
          if (tag && scan.inline.length + scan.external.length > before) scan.templatesWithCode.push(tag)
        })
      } else if (name === 'noscript' && !foreign) {
        visitNoscript(node, context, offsetBase, editable, inHead, scripting)
      } else {
        visit(node, context, offsetBase, editable, inHead || node === head, scripting)
      }
    }
  }

  // With scripting on, browsers read <noscript> as raw text; with scripting off its content is HTML,
  // and styles there must still be allowed. Parse that text as the fragment a browser would build.
  const visitNoscript = (node: Element, context: Context, offsetBase: number, editable: boolean, inHead: boolean, scripting: boolean) => {
    // With scripting off (a <noscript> inside <noscript> content) its content is already parsed as HTML.
    const textNode = scripting ? node.childNodes.find((child) => child.nodeName === '#text') as DefaultTreeAdapterMap['textNode'] | undefined : undefined
    if (!textNode) return visit(node, context, offsetBase, editable, inHead, scripting)
    const loc = textNode.sourceCodeLocation
    const start = loc ? loc.startOffset + offsetBase : 0
    const end = loc ? loc.endOffset + offsetBase : 0
    // Offsets stay valid only when the raw source slice is what the fragment parser sees.
    const source = editable && loc ? html.slice(start, end) : textNode.value
    // No context element: with a <noscript> context parse5 would tokenize the text as raw text again.
    const fragment = parseFragment(source, { sourceCodeLocationInfo: true, scriptingEnabled: false })
    visit(fragment, context === 'document' ? 'noscript' : context, start, editable && loc !== undefined, inHead, false)
  }

  const visitSrcdoc = (srcdoc: string, iframe: Tag) => {
    const inner = scanHtml(srcdoc)
    const relocate = <T extends { tag: Tag }>(item: T): T => ({ ...item, tag: { ...iframe, context: 'srcdoc', editable: false } })
    scan.inline.push(...inner.inline.map(relocate))
    scan.attributes.push(...inner.attributes.map(relocate))
    scan.external.push(...inner.external.map(relocate))
  }

  visit(doc, 'document', 0, true, false, true)
  walk()
  scan.metaInsert = metaInsertOffset(doc, head, charsetEnd, firstLoadingElement)
  return scan
}

function metaInsertOffset(doc: DefaultTreeAdapterMap['document'], head: Element | undefined, charsetEnd: number | undefined, firstLoading: number): number {
  if (charsetEnd !== undefined && charsetEnd <= firstLoading) return charsetEnd
  const headLoc = head?.sourceCodeLocation
  if (headLoc?.startTag) return headLoc.startTag.endOffset
  // No <head> tag: the parser opens one at the first head content, or at <html>, or after the doctype.
  const firstInHead = head?.childNodes.find((n) => isElement(n) && n.sourceCodeLocation)
  if (firstInHead?.sourceCodeLocation) return firstInHead.sourceCodeLocation.startOffset
  const htmlElement = doc.childNodes.find(isElement)
  const htmlStart = htmlElement?.sourceCodeLocation?.startTag
  if (htmlStart) return htmlStart.endOffset
  const doctype = doc.childNodes.find((n) => n.nodeName === '#documentType')
  return doctype?.sourceCodeLocation?.endOffset ?? 0
}

function linkRef(tag: Tag): ExternalRef | undefined {
  const href = tag.attrs.get('href')?.value
  if (href === undefined) return undefined
  const rels = (tag.attrs.get('rel')?.value ?? '').toLowerCase().split(/[\t\n\f\r ]+/)
  const as = tag.attrs.get('as')?.value.trim().toLowerCase()
  if (rels.includes('stylesheet')) return { element: 'link', destination: 'style', rel: 'stylesheet', url: href, tag }
  if (rels.includes('modulepreload') && (as === undefined || as === '' || as === 'script')) {
    return { element: 'link', destination: 'script', rel: 'modulepreload', url: href, tag }
  }
  if (rels.includes('preload') && (as === 'script' || as === 'style')) return { element: 'link', destination: as, rel: 'preload', url: href, tag }
  return undefined
}

function scanAttributes(node: Element, tag: Tag, scan: Scan): void {
  for (const attr of node.attrs) {
    const name = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name
    if (name === 'style') scan.attributes.push({ kind: 'style', name, value: attr.value, tag })
    else if (name.startsWith('on') && name.length > 2) scan.attributes.push({ kind: 'handler', name, value: attr.value, tag })
    else if (URL_ATTRIBUTES.has(name) && isJavascriptUrl(attr.value)) scan.attributes.push({ kind: 'javascript-url', name, value: attr.value, tag })
  }
}

function isJavascriptUrl(value: string): boolean {
  // URL parsing strips leading/trailing C0 controls and spaces and removes tabs and newlines anywhere.
  // eslint-disable-next-line no-control-regex
  return value.replace(/^[\0- ]+|[\0- ]+$/g, '').replace(/[\t\n\r]/g, '').toLowerCase().startsWith('javascript:')
}

function tagOf(node: Element, context: Context, offsetBase: number, editable: boolean, lines: LineIndex, html: string): Tag | undefined {
  const loc = node.sourceCodeLocation?.startTag
  const attrLocations = node.sourceCodeLocation?.attrs
  const attrs = new Map<string, { value: string; start: number; end: number }>()
  for (const attr of node.attrs) {
    const name = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name
    // Locations are keyed by the name as tokenized (lowercase): SVG and MathML names (viewBox) are adjusted after.
    const at = attrLocations?.[name] ?? attrLocations?.[name.toLowerCase()]
    attrs.set(name, { value: attr.value, start: (at?.startOffset ?? 0) + offsetBase, end: (at?.endOffset ?? 0) + offsetBase })
  }
  if (!loc) {
    // Implied elements (no start tag in the source) carry nothing to edit.
    if (node.tagName === 'html' || node.tagName === 'head' || node.tagName === 'body' || node.tagName === 'tbody' || node.tagName === 'colgroup') return undefined
    return { name: node.tagName, start: 0, end: 0, nameEnd: 0, attrInsert: 0, line: 0, column: 0, attrs, context, editable: false }
  }
  const start = loc.startOffset + offsetBase
  const end = loc.endOffset + offsetBase
  const { line, column } = editable ? lines.at(start) : { line: 0, column: 0 }
  const selfClosing = html.charCodeAt(end - 2) === 47 /* / */
  const lastAttrEnd = Math.max(0, ...[...attrs.values()].map((a) => a.end))
  // `<link href=a/>`: the slash belongs to the unquoted value, so insert before `>`.
  const attrInsert = selfClosing && lastAttrEnd < end - 1 ? end - 2 : end - 1
  return { name: node.tagName, start, end, nameEnd: start + 1 + node.tagName.length, attrInsert, line, column, attrs, context, editable }
}

function isElement(node: Node): node is Element {
  return 'tagName' in node
}

/** A script's or style's child text content: the concatenation of its text children. */
function childText(node: Element): string {
  let text = ''
  for (const child of node.childNodes) if (child.nodeName === '#text') text += (child as DefaultTreeAdapterMap['textNode']).value
  return text
}

/** Converts offsets to 1-based line and column for messages. */
export class LineIndex {
  private starts: number[] | undefined
  constructor(private readonly text: string) {}
  at(offset: number): { line: number; column: number } {
    if (!this.starts) {
      this.starts = [0]
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1)) this.starts.push(i + 1)
    }
    let lo = 0
    let hi = this.starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.starts[mid]! <= offset) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 }
  }
}
