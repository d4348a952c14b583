import { html as H, InsertionMode, Parser, type DefaultTreeAdapterMap, type ParserOptions, type Token } from 'parse5'
import {
  attributeKind,
  emptyScan,
  linkRef,
  neverRunsReported,
  recordAttribute,
  recordMeta,
  recordSrcdoc,
  RESOURCE_ELEMENTS,
  resourceRefs,
  scriptReport,
  type Context,
  type Namespace,
  type Scan,
  type Tag,
} from './rules.js'

// The scan's shapes, defined with the rules: callers of scanHtml import them from here.
export type { Context, CspMeta, ExternalRef, InlineAttribute, InlineCode, NeverRuns, ResourceDirective, ResourceRef, Scan, ScriptType, Tag } from './rules.js'
export { scriptType } from './rules.js'

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
        while (
          stack.currentTagId !== $.OPTGROUP &&
          IMPLIED_END.has(stack.currentTagId!) &&
          this.treeAdapter.getNamespaceURI(stack.current as Element) === H.NS.HTML
        )
          stack.pop()
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
        case $.TR:
          this.insertionMode = InsertionMode.IN_ROW
          return
        case $.TBODY:
        case $.THEAD:
        case $.TFOOT:
          this.insertionMode = InsertionMode.IN_TABLE_BODY
          return
        case $.CAPTION:
          this.insertionMode = InsertionMode.IN_CAPTION
          return
        case $.COLGROUP:
          this.insertionMode = InsertionMode.IN_COLUMN_GROUP
          return
        case $.TABLE:
          this.insertionMode = InsertionMode.IN_TABLE
          return
        case $.BODY:
          this.insertionMode = InsertionMode.IN_BODY
          return
        case $.FRAMESET:
          this.insertionMode = InsertionMode.IN_FRAMESET
          return
        case $.TEMPLATE:
          this.insertionMode = this.tmplInsertionModeStack[this.tmplInsertionModeStack.length - 1]!
          return
        case $.HTML:
          this.insertionMode = this.headElement ? InsertionMode.AFTER_HEAD : InsertionMode.BEFORE_HEAD
          return
        case $.TD:
        case $.TH:
          if (i > 0) {
            this.insertionMode = InsertionMode.IN_CELL
            return
          }
          break
        case $.HEAD:
          if (i > 0) {
            this.insertionMode = InsertionMode.IN_HEAD
            return
          }
          break
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

const NAMESPACES = new Map<string, Namespace>([
  [H.NS.HTML, 'html'],
  [H.NS.SVG, 'svg'],
  [H.NS.MATHML, 'mathml'],
])

/**
 * Scans a document (already stripped of a UTF-8 BOM) for everything a CSP governs, with exact offsets
 * into `html`. One parse; `<noscript>` raw text and `srcdoc` documents are parsed as the browser would
 * parse them in their own contexts. `scripting`: whether the document's scripts can run at all (not for an
 * `<iframe srcdoc>` inside noscript content, which exists only with scripting off).
 */
export function scanHtml(html: string, scripting = true): Scan {
  const scan = emptyScan()
  const lines = new LineIndex(html)
  const doc = parse(html, { sourceCodeLocationInfo: true })
  let head: Element | undefined
  let firstLoadingElement = Infinity // offset of the first script/style/link (the meta must precede it)
  let charsetEnd: number | undefined
  /** Scripts and styles reported so far (a `<template>` is reported if its content adds any). */
  const code = () => scan.inline.length + scan.external.length

  // Depth-first in document order with an explicit stack: pages nested 100,000 deep must not overflow the call stack.
  // `scripting`: whether this tree was parsed with scripting on (the page) or off (`<noscript>` content).
  interface Frame {
    parent: ParentNode
    index: number
    context: Context
    offsetBase: number
    editable: boolean
    inHead: boolean
    scripting: boolean
    done?: () => void
  }
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
      const namespace = NAMESPACES.get(node.namespaceURI) ?? 'other'
      const html5 = namespace === 'html'
      if (name === 'head' && context === 'document') head = node
      if (tag) {
        for (const attr of node.attrs) {
          const attrName = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name
          const kind = attributeKind(attrName, attr.value)
          if (kind !== undefined) recordAttribute(scan, kind, attrName, attr.value, tag, scripting)
        }
        if (RESOURCE_NAMES.has(name)) scan.resources.push(...resourceRefs(namespace, tag))
      }

      if (tag && (name === 'script' || name === 'style' || name === 'link') && context === 'document') {
        firstLoadingElement = Math.min(firstLoadingElement, tag.start)
      }
      if (tag && name === 'script') {
        const report = scriptReport(namespace, tag, scripting)
        if (report?.kind === 'external') {
          scan.external.push(report.ref)
        } else if (report?.kind === 'inline') {
          report.code.text = childText(node)
          if (report.code.text !== '') scan.inline.push(report.code)
        } else if (report?.kind === 'never-runs') {
          report.code.text = report.code.url === undefined ? childText(node) : ''
          if (neverRunsReported(report.code)) scan.neverRuns.push(report.code)
        }
      } else if (tag && name === 'style') {
        scan.inline.push({ element: 'style', text: childText(node), tag })
      } else if (tag && name === 'link' && html5) {
        const ref = linkRef(tag)
        if (ref) scan.external.push(ref)
      } else if (tag && name === 'meta' && html5 && context === 'document') {
        if (recordMeta(scan, tag, inHead)) charsetEnd = tag.end
      } else if (tag && name === 'base' && html5 && context === 'document' && scan.baseHref === undefined) {
        scan.baseHref = tag.attrs.get('href')?.value
      } else if (tag && name === 'iframe' && tag.attrs.has('srcdoc')) {
        recordSrcdoc(scan, scanHtml(tag.attrs.get('srcdoc')!.value, scripting), tag, scripting)
      }

      if (name === 'template' && html5) {
        const content = (node as DefaultTreeAdapterMap['template']).content
        const before = code()
        visit(content, context === 'document' ? 'template' : context, offsetBase, editable, false, scripting, () => {
          if (tag && code() > before) scan.templatesWithCode.push(tag)
        })
      } else if (name === 'noscript' && html5) {
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
    const textNode = scripting ? (node.childNodes.find((child) => child.nodeName === '#text') as DefaultTreeAdapterMap['textNode'] | undefined) : undefined
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

  visit(doc, 'document', 0, true, false, scripting)
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

const RESOURCE_NAMES: ReadonlySet<string> = new Set(RESOURCE_ELEMENTS)

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
    if (node.tagName === 'html' || node.tagName === 'head' || node.tagName === 'body' || node.tagName === 'tbody' || node.tagName === 'colgroup')
      return undefined
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
