import { foreignContent, html as H, Token, Tokenizer, TokenizerMode } from 'parse5'
import { RunTokenizer, type RunTokenHandler } from './tokenizer.js'
import { LineIndex, scanHtml, scriptType, type Context, type ExternalRef, type InlineAttribute, type InlineCode, type Scan, type Tag } from './scan.js'

/*
 * The same scan as `scanHtml`, without building a tree: parse5's tokenizer (as a RunTokenizer, which takes runs of
 * text whole and lets whitespace join text where this model treats both alike) drives a model of parse5's tree builder
 * that keeps only what decides what we report: the stack of open elements (names, namespaces, integration points),
 * the insertion mode, the list of active formatting elements (their clones repeat attributes), the template modes,
 * the head and form pointers. Each element is reported when the builder inserts it; with no foster parenting and
 * no adoption-agency moves, every element is appended to the current node, so insertion order is tree order.
 *
 * What the model does not follow falls back to `scanHtml` for that page: foster-parented elements (content
 * misplaced in tables), the adoption agency with a furthest block (misnested formatting elements around blocks),
 * frameset documents, `<plaintext>`, attributes merged into `<html>`/`<body>` by a second tag, a `<table>` inside
 * `<p>` under a doctype whose quirks mode this module does not compute.
 * The code follows parse5's parser function by function (node_modules/parse5/dist/parser/index.js) so the two can
 * be compared; parse5 quirks are kept on purpose, since the result must equal `scanHtml`'s.
 */

type TagToken = Token.TagToken
type CharacterToken = Token.CharacterToken
type AnyToken = Token.Token

const $ = H.TAG_ID
const TT = Token.TokenType
// The tables below are indexed by tag ID.
if (Object.values($).some((id) => typeof id === 'number' && id > 255)) throw new Error('parse5 has more tag IDs than fast-scan expects')

// Insertion modes, numbered as parse5's.
const enum M {
  INITIAL, BEFORE_HTML, BEFORE_HEAD, IN_HEAD, IN_HEAD_NO_SCRIPT, AFTER_HEAD, IN_BODY, TEXT, IN_TABLE, IN_TABLE_TEXT,
  IN_CAPTION, IN_COLUMN_GROUP, IN_TABLE_BODY, IN_ROW, IN_CELL, IN_SELECT, IN_SELECT_IN_TABLE, IN_TEMPLATE, AFTER_BODY,
  IN_FRAMESET, AFTER_FRAMESET, AFTER_AFTER_BODY, AFTER_AFTER_FRAMESET,
}

// Namespaces.
const HTML_NS = 0
const SVG_NS = 1
const MATHML_NS = 2

// Classes of elements, as parse5's open element stack keys them (namespace * 256 + tag ID).
const SPECIAL = 1
const LIST_ITEM_BOUNDARY = 2
const SCOPE = 4
const LIST_ITEM_SCOPE = 8
const BUTTON_SCOPE = 16
const TABLE_SCOPE = 32
const KEY_CLASSES = new Uint8Array(768)
for (const [ns, offset] of [[H.NS.HTML, 0], [H.NS.SVG, 256], [H.NS.MATHML, 512]] as const) {
  for (const tid of H.SPECIAL_ELEMENTS[ns]) {
    KEY_CLASSES[offset + tid] = ns === H.NS.HTML && (tid === $.ADDRESS || tid === $.DIV || tid === $.P) ? SPECIAL : SPECIAL | LIST_ITEM_BOUNDARY
  }
}
for (const key of [$.APPLET, $.CAPTION, $.HTML, $.MARQUEE, $.OBJECT, $.TABLE, $.TD, $.TEMPLATE, $.TH, 256 + $.DESC, 256 + $.FOREIGN_OBJECT, 256 + $.TITLE, 512 + $.ANNOTATION_XML, 512 + $.MI, 512 + $.MN, 512 + $.MO, 512 + $.MS, 512 + $.MTEXT]) {
  KEY_CLASSES[key]! |= SCOPE | LIST_ITEM_SCOPE | BUTTON_SCOPE
}
// Customizable select: an open select ends the default, list item and button scopes (scan.ts's BrowserParser).
KEY_CLASSES[$.SELECT]! |= SCOPE | LIST_ITEM_SCOPE | BUTTON_SCOPE
KEY_CLASSES[$.OL]! |= LIST_ITEM_SCOPE
KEY_CLASSES[$.UL]! |= LIST_ITEM_SCOPE
KEY_CLASSES[$.BUTTON]! |= BUTTON_SCOPE
KEY_CLASSES[$.TABLE]! |= TABLE_SCOPE
KEY_CLASSES[$.HTML]! |= TABLE_SCOPE

const tagSet = (...ids: number[]) => {
  const set = new Uint8Array(256)
  for (const id of ids) set[id] = 1
  return set
}
const IMPLICIT_END = tagSet($.DD, $.DT, $.LI, $.OPTGROUP, $.OPTION, $.P, $.RB, $.RP, $.RT, $.RTC)
const IMPLICIT_END_THOROUGHLY = tagSet($.DD, $.DT, $.LI, $.OPTGROUP, $.OPTION, $.P, $.RB, $.RP, $.RT, $.RTC, $.CAPTION, $.COLGROUP, $.TBODY, $.TD, $.TFOOT, $.TH, $.THEAD, $.TR)
const TABLE_STRUCTURE = tagSet($.TABLE, $.TBODY, $.TFOOT, $.THEAD, $.TR)
const TABLE_VOID = tagSet($.CAPTION, $.COL, $.COLGROUP, $.TBODY, $.TD, $.TFOOT, $.TH, $.THEAD, $.TR)
const NUMBERED_HEADERS = [$.H1, $.H2, $.H3, $.H4, $.H5, $.H6]
const TABLE_BODIES = [$.TBODY, $.TFOOT, $.THEAD]
const TABLE_CONTEXT = [$.TABLE, $.TEMPLATE, $.HTML]
const TABLE_BODY_CONTEXT = [$.TBODY, $.TFOOT, $.THEAD, $.TEMPLATE, $.HTML]
const TABLE_ROW_CONTEXT = [$.TR, $.TEMPLATE, $.HTML]
const TABLE_CELLS = [$.TD, $.TH]
const INSERTION_MODE_TAGS = [$.TR, $.TBODY, $.THEAD, $.TFOOT, $.CAPTION, $.COLGROUP, $.TABLE, $.FRAMESET, $.TEMPLATE, $.TD, $.TH, $.HEAD, $.BODY, $.HTML]

// What a start tag does in the "in body" insertion mode, per tag ID.
const enum B {
  GENERIC, FORMATTING, A, HEADING, BLOCK, LIST_ITEM, VOID, HR, RB, RT, PRE, XMP, SVG, HTML, HEAD_CONTENT, BODY, FORM,
  NOBR, MATH, TABLE, INPUT, PARAM, IMAGE, BUTTON, APPLET, IFRAME, SELECT, OPTION, RAWTEXT, FRAMESET, TEXTAREA, NOSCRIPT,
  PLAINTEXT, IGNORE,
}
const BODY_START = new Uint8Array(256)
const setKind = (table: Uint8Array, kind: number, ...ids: number[]) => ids.forEach((id) => (table[id] = kind))
setKind(BODY_START, B.FORMATTING, $.I, $.S, $.B, $.U, $.EM, $.TT, $.BIG, $.CODE, $.FONT, $.SMALL, $.STRIKE, $.STRONG)
setKind(BODY_START, B.A, $.A)
setKind(BODY_START, B.HEADING, ...NUMBERED_HEADERS)
setKind(BODY_START, B.BLOCK, $.P, $.DL, $.OL, $.UL, $.DIV, $.DIR, $.NAV, $.MAIN, $.MENU, $.ASIDE, $.CENTER, $.FIGURE, $.FOOTER, $.HEADER, $.HGROUP, $.DIALOG, $.DETAILS, $.ADDRESS, $.ARTICLE, $.SEARCH, $.SECTION, $.SUMMARY, $.FIELDSET, $.BLOCKQUOTE, $.FIGCAPTION)
setKind(BODY_START, B.LIST_ITEM, $.LI, $.DD, $.DT)
setKind(BODY_START, B.VOID, $.BR, $.IMG, $.WBR, $.AREA, $.EMBED, $.KEYGEN)
setKind(BODY_START, B.HR, $.HR)
setKind(BODY_START, B.RB, $.RB, $.RTC)
setKind(BODY_START, B.RT, $.RT, $.RP)
setKind(BODY_START, B.PRE, $.PRE, $.LISTING)
setKind(BODY_START, B.XMP, $.XMP)
setKind(BODY_START, B.SVG, $.SVG)
setKind(BODY_START, B.HTML, $.HTML)
setKind(BODY_START, B.HEAD_CONTENT, $.BASE, $.LINK, $.META, $.STYLE, $.TITLE, $.SCRIPT, $.BGSOUND, $.BASEFONT, $.TEMPLATE)
setKind(BODY_START, B.BODY, $.BODY)
setKind(BODY_START, B.FORM, $.FORM)
setKind(BODY_START, B.NOBR, $.NOBR)
setKind(BODY_START, B.MATH, $.MATH)
setKind(BODY_START, B.TABLE, $.TABLE)
setKind(BODY_START, B.INPUT, $.INPUT)
setKind(BODY_START, B.PARAM, $.PARAM, $.TRACK, $.SOURCE)
setKind(BODY_START, B.IMAGE, $.IMAGE)
setKind(BODY_START, B.BUTTON, $.BUTTON)
setKind(BODY_START, B.APPLET, $.APPLET, $.OBJECT, $.MARQUEE)
setKind(BODY_START, B.IFRAME, $.IFRAME)
setKind(BODY_START, B.SELECT, $.SELECT)
setKind(BODY_START, B.OPTION, $.OPTION, $.OPTGROUP)
setKind(BODY_START, B.RAWTEXT, $.NOEMBED, $.NOFRAMES)
setKind(BODY_START, B.FRAMESET, $.FRAMESET)
setKind(BODY_START, B.TEXTAREA, $.TEXTAREA)
setKind(BODY_START, B.NOSCRIPT, $.NOSCRIPT)
setKind(BODY_START, B.PLAINTEXT, $.PLAINTEXT)
setKind(BODY_START, B.IGNORE, $.COL, $.TH, $.TD, $.TR, $.HEAD, $.FRAME, $.TBODY, $.TFOOT, $.THEAD, $.CAPTION, $.COLGROUP)

// What an end tag does in the "in body" insertion mode, per tag ID.
const enum E { GENERIC, FORMATTING, P, BLOCK, LI, DD, HEADING, BR, BODY, HTML, FORM, APPLET, TEMPLATE, SELECT }
const BODY_END = new Uint8Array(256)
setKind(BODY_END, E.FORMATTING, $.A, $.B, $.I, $.S, $.U, $.EM, $.TT, $.BIG, $.CODE, $.FONT, $.NOBR, $.SMALL, $.STRIKE, $.STRONG)
setKind(BODY_END, E.P, $.P)
setKind(BODY_END, E.BLOCK, $.DL, $.UL, $.OL, $.DIR, $.DIV, $.NAV, $.PRE, $.MAIN, $.MENU, $.ASIDE, $.BUTTON, $.CENTER, $.FIGURE, $.FOOTER, $.HEADER, $.HGROUP, $.DIALOG, $.ADDRESS, $.ARTICLE, $.DETAILS, $.SEARCH, $.SECTION, $.SUMMARY, $.LISTING, $.FIELDSET, $.BLOCKQUOTE, $.FIGCAPTION)
setKind(BODY_END, E.LI, $.LI)
setKind(BODY_END, E.DD, $.DD, $.DT)
setKind(BODY_END, E.HEADING, ...NUMBERED_HEADERS)
setKind(BODY_END, E.BR, $.BR)
setKind(BODY_END, E.BODY, $.BODY)
setKind(BODY_END, E.HTML, $.HTML)
setKind(BODY_END, E.FORM, $.FORM)
setKind(BODY_END, E.APPLET, $.APPLET, $.OBJECT, $.MARQUEE)
setKind(BODY_END, E.TEMPLATE, $.TEMPLATE)
setKind(BODY_END, E.SELECT, $.SELECT)

const HEAD_CONTENT_AFTER_HEAD = tagSet($.BASE, $.BASEFONT, $.BGSOUND, $.LINK, $.META, $.NOFRAMES, $.SCRIPT, $.STYLE, $.TEMPLATE, $.TITLE)

/** Attributes that take a URL (scan.ts's URL_ATTRIBUTES, which it does not export; isUrlAttribute tests them). */
const URL_ATTRIBUTES = ['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'background']

/** First letters of the attributes scanHtml reports: style, on…, and the URL attributes. */
const ATTRIBUTE_FIRST = new Uint8Array(128)
for (const name of ['style', 'on', ...URL_ATTRIBUTES]) ATTRIBUTE_FIRST[name.charCodeAt(0)] = 1
/** Elements that report something besides their attributes. */
const REPORTED_ELEMENTS = tagSet($.SCRIPT, $.STYLE, $.LINK, $.META, $.BASE, $.IFRAME, $.TEMPLATE, $.NOSCRIPT)

const enum R { CODE, NOSCRIPT, TEMPLATE }

/** What an open element carries for the scan: the text it collects, or what to do when it closes. */
class Rec {
  code: InlineCode | undefined
  /** `<noscript>` raw text range, relative to the builder's input. */
  start = -1
  end = -1
  /** Code items reported before a `<template>` opened. */
  before = 0
  token: TagToken | undefined
  tag: Tag | undefined
  constructor(readonly kind: R, readonly context: Context) {}
}

/** An open element, as far as the tree builder looks at it. */
class El {
  open = false
  rec: Rec | null = null
  /** Its entry in the list of active formatting elements, if it has one. */
  formatting: Formatting | null = null
  /** Stack key (namespace * 256 + tag ID), or -1 for a tag without ID. */
  readonly key: number
  constructor(readonly tid: number, readonly ns: number, readonly name: string, readonly ip: number) {
    this.key = tid === $.UNKNOWN ? -1 : ns * 256 + tid
  }
}

interface Formatting {
  el: El
  token: TagToken
}

/** What the page's builders share: the page text, the result, and counters across `<noscript>` fragments. */
interface Page {
  html: string
  lines: LineIndex
  scan: Scan
  /** Inline and external items reported so far (a `<template>` holding any is reported). */
  code: number
  emptyScripts: boolean
  firstLoading: number
}

class Fallback extends Error {}

/**
 * scanHtml's tag, read from the start tag token. `attrs`, `attrInsert`, `line` and `column` are computed when first
 * read: most tags are reported for a style attribute and never looked at again.
 */
class TokenTag implements Tag {
  readonly name: string
  readonly start: number
  readonly end: number
  readonly nameEnd: number
  readonly editable = true
  readonly #token: TagToken
  readonly #base: number
  readonly #page: Page
  #attrs: Tag['attrs'] | undefined

  constructor(token: TagToken, readonly context: Context, base: number, page: Page) {
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

/** A tag as a plain object, every property computed (a copy of a {@link TokenTag} keeps them). */
export function plainTag(tag: Tag): Tag {
  return { name: tag.name, start: tag.start, end: tag.end, nameEnd: tag.nameEnd, attrInsert: tag.attrInsert, line: tag.line, column: tag.column, attrs: tag.attrs, context: tag.context, editable: tag.editable }
}

/** Integration points: 1 for an HTML integration point, 2 for a MathML text integration point. */
function integrationPoint(tid: number, ns: number, attrs: Token.Attribute[]): number {
  if (ns === SVG_NS) return tid === $.FOREIGN_OBJECT || tid === $.DESC || tid === $.TITLE ? 1 : 0
  if (ns === MATHML_NS) {
    if (tid === $.MI || tid === $.MO || tid === $.MN || tid === $.MS || tid === $.MTEXT) return 2
    if (tid === $.ANNOTATION_XML) {
      for (const attr of attrs) {
        if (attr.name === 'encoding') {
          const value = attr.value.toLowerCase()
          return value === 'text/html' || value === 'application/xhtml+xml' ? 1 : 0
        }
      }
    }
  }
  return 0
}

function isUrlAttribute(name: string): boolean {
  switch (name) {
    case 'href':
    case 'src':
    case 'action':
    case 'formaction':
    case 'xlink:href':
    case 'data':
    case 'poster':
    case 'background':
      return true
  }
  return false
}

function isJavascriptUrl(value: string): boolean {
  // Fast path: after the leading C0 controls and spaces, the value must start with j.
  let i = 0
  while (i < value.length && value.charCodeAt(i) <= 32) i++
  const c = value.charCodeAt(i)
  if (c !== 106 && c !== 74) return false
  // eslint-disable-next-line no-control-regex
  return value.replace(/^[\0- ]+|[\0- ]+$/g, '').replace(/[\t\n\r]/g, '').toLowerCase().startsWith('javascript:')
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

function isHiddenInput(token: TagToken): boolean {
  for (const attr of token.attrs) if (attr.name === 'type') return attr.value.toLowerCase() === 'hidden'
  return false
}

/** The tree builder model for one document or one `<noscript>` fragment. */
class Builder implements RunTokenHandler {
  tokenizer!: Tokenizer
  mode: M = M.INITIAL
  originalMode: M = M.INITIAL
  readonly stack: El[] = []
  tmplCount = 0
  /** Open HTML <p> elements: with none, "a p in button scope" needs no walk (block start tags ask it). */
  pCount = 0
  /** Open HTML <select> elements: with none, "a select in scope" needs no walk (hr and input ask it). */
  selectCount = 0
  readonly tmplModes: M[] = []
  /** Active formatting elements; null is a marker. */
  afe: Array<Formatting | null> = []
  headEl: El | null = null
  formEl: El | null = null
  fosterParenting = false
  pending: CharacterToken[] = []
  pendingNonWhitespace = false
  skipNextNewLine = false
  /** The current node is not an HTML element (parse5's `currentNotInHTML`). */
  notInHtml = false
  /** Where character tokens go when the current node collects text (script, style, raw noscript). */
  target: Rec | null = null
  /** 0 no quirks, 1 quirks, 2 a doctype whose mode is not computed here. */
  quirks = 0
  // Where the policy meta goes (document builder only).
  doctypeEnd: number | undefined
  htmlTagEnd: number | undefined
  headTagEnd: number | undefined
  firstInHead: number | undefined
  charsetEnd: number | undefined

  constructor(
    readonly page: Page,
    readonly fragment: boolean,
    readonly context: Context,
    readonly offsetBase: number,
  ) {}

  run(source: string): void {
    this.tokenizer = new RunTokenizer({ sourceCodeLocationInfo: true }, this)
    if (this.fragment) {
      // parse5's fragment parser with a <template> context: a fake <html> root, "in template" mode.
      this.tmplModes.push(M.IN_TEMPLATE)
      this.insertFakeRoot()
      this.resetInsertionMode()
    }
    this.tokenizer.write(source, true)
    // Elements still open at EOF are in the tree as they are.
    for (let i = this.stack.length - 1; i >= 0; i--) this.finish(this.stack[i]!)
  }

  fallback(reason: string): never {
    throw new Fallback(reason)
  }

  // ---- the stack of open elements

  top(): El {
    const top = this.stack[this.stack.length - 1]
    if (top === undefined) this.fallback('empty stack')
    return top
  }

  updateTop(): void {
    const top = this.stack[this.stack.length - 1]
    if (top === undefined) {
      this.notInHtml = false
      this.tokenizer.inForeignNode = false
      this.target = null
      return
    }
    const foreign = top.ns !== HTML_NS
    this.notInHtml = foreign
    this.tokenizer.inForeignNode = foreign && top.ip === 0
    const rec = top.rec
    this.target = rec !== null && rec.kind !== R.TEMPLATE ? rec : null
  }

  push(el: El): void {
    this.stack.push(el)
    el.open = true
    if (el.key === $.TEMPLATE) this.tmplCount++
    else if (el.key === $.P) this.pCount++
    else if (el.key === $.SELECT) this.selectCount++
    this.updateTop()
  }

  pop(): void {
    const el = this.stack.pop()
    if (el === undefined) this.fallback('empty stack')
    if (this.stack.length === 0) this.fallback('popped the root')
    el.open = false
    if (el.key === $.TEMPLATE && this.tmplCount > 0) this.tmplCount--
    else if (el.key === $.P) this.pCount--
    else if (el.key === $.SELECT) this.selectCount--
    this.updateTop()
    this.finish(el)
  }

  shortenToLength(length: number): void {
    while (this.stack.length > length) this.pop()
  }

  removeAt(idx: number): void {
    if (idx === this.stack.length - 1) return this.pop()
    const el = this.stack.splice(idx, 1)[0]!
    el.open = false
    if (el.key === $.P) this.pCount--
    else if (el.key === $.SELECT) this.selectCount--
    this.finish(el)
  }

  remove(el: El): void {
    const idx = this.stack.lastIndexOf(el)
    if (idx !== -1) this.removeAt(idx)
  }

  indexOfTopmost(tid: number): number {
    const s = this.stack
    for (let i = s.length - 1; i >= 0; i--) if (s[i]!.key === tid) return i
    return -1
  }

  indexOfTopmostOf(tids: readonly number[]): number {
    const s = this.stack
    for (let i = s.length - 1; i >= 0; i--) if (tids.includes(s[i]!.key)) return i
    return -1
  }

  indexOfTopmostHtmlElement(): number {
    const s = this.stack
    let i = s.length - 1
    while (i >= 0 && s[i]!.ns !== HTML_NS) i--
    return i
  }

  hasAbove(idx: number, classes: number): boolean {
    const s = this.stack
    for (let i = s.length - 1; i > idx; i--) {
      const key = s[i]!.key
      if (key !== -1 && KEY_CLASSES[key]! & classes) return true
    }
    return false
  }

  pInButtonScope(): boolean {
    return this.pCount !== 0 && this.inScope($.P, BUTTON_SCOPE)
  }

  selectInScope(): boolean {
    return this.selectCount !== 0 && this.inScope($.SELECT, SCOPE)
  }

  /** parse5's `_scanScope`: an HTML element with the tag (and, if given, that element) open above every boundary. */
  inScope(tid: number, scope: number, el?: El): boolean {
    const s = this.stack
    for (let i = s.length - 1; i >= 0; i--) {
      const e = s[i]!
      const key = e.key
      if (key === -1) continue
      if (key === tid && (el === undefined || e === el)) return true
      if (KEY_CLASSES[key]! & scope) return false
    }
    return true
  }

  anyInScope(tids: readonly number[], scope: number): boolean {
    const s = this.stack
    for (let i = s.length - 1; i >= 0; i--) {
      const key = s[i]!.key
      if (key === -1) continue
      if (tids.includes(key)) return true
      if (KEY_CLASSES[key]! & scope) return false
    }
    return true
  }

  popUntilTagNamePopped(tid: number): void {
    this.shortenToLength(Math.max(this.indexOfTopmost(tid), 0))
  }

  generateImpliedEndTags(): void {
    for (let top = this.top(); IMPLICIT_END[top.tid] && top.ns === HTML_NS; top = this.top()) this.pop()
  }

  generateImpliedEndTagsExcept(tid: number): void {
    for (let top = this.top(); top.tid !== tid && IMPLICIT_END[top.tid] && top.ns === HTML_NS; top = this.top()) this.pop()
  }

  generateImpliedEndTagsThoroughly(): void {
    for (let top = this.top(); IMPLICIT_END_THOROUGHLY[top.tid] && top.ns === HTML_NS; top = this.top()) this.pop()
  }

  generateImpliedEndTagsWithExclusion(tid: number): void {
    for (let top = this.top(); top.tid !== tid && IMPLICIT_END_THOROUGHLY[top.tid] && top.ns === HTML_NS; top = this.top()) this.pop()
  }

  clearBackTo(tids: readonly number[]): void {
    this.shortenToLength(this.indexOfTopmostOf(tids) + 1)
  }

  closePElement(): void {
    this.generateImpliedEndTagsWithExclusion($.P)
    this.popUntilTagNamePopped($.P)
  }

  // ---- active formatting elements

  pushFormatting(el: El, token: TagToken): void {
    // Noah's Ark: at most three entries with the same tag and attributes after the last marker.
    const afe = this.afe
    let count = 0
    let earliest = -1
    let key: string | undefined
    for (let i = afe.length - 1; i >= 0; i--) {
      const entry = afe[i] as Formatting | null
      if (entry === null) break
      if (entry.token.tagName !== token.tagName || entry.token.attrs.length !== token.attrs.length) continue
      key ??= arkKey(token)
      if (arkKey(entry.token) === key) {
        count++
        earliest = i
      }
    }
    if (count >= 3) this.removeFormatting(afe[earliest]!)
    const entry = { el, token }
    el.formatting = entry
    afe.push(entry)
  }

  removeFormatting(entry: Formatting): void {
    const afe = this.afe
    const idx = afe.lastIndexOf(entry)
    if (idx === -1) return
    if (idx === afe.length - 1) afe.pop()
    else afe.splice(idx, 1)
    entry.el.formatting = null
  }

  formattingInScopeWithTagName(tagName: string): Formatting | undefined {
    const afe = this.afe
    for (let i = afe.length - 1; i >= 0; i--) {
      const entry = afe[i] as Formatting | null
      if (entry === null) return undefined
      if (entry.token.tagName === tagName) return entry
    }
    return undefined
  }

  clearToLastMarker(): void {
    const afe = this.afe
    let i = afe.length - 1
    for (let entry = afe[i]; i >= 0 && entry !== null; entry = afe[--i]) entry!.el.formatting = null
    afe.length = Math.max(i, 0)
  }

  reconstruct(): void {
    const afe = this.afe
    const n = afe.length
    if (n === 0) return
    const last = afe[n - 1]
    if (last === null || last!.el.open) return
    let i = n - 1
    while (i > 0) {
      const prev = afe[i - 1]
      if (prev === null || prev!.el.open) break
      i--
    }
    for (; i < n; i++) {
      const entry = afe[i]!
      // A clone of the formatting element, from the same token: scanHtml sees its attributes again.
      this.insertElement(entry.token, entry.el.ns)
      entry.el.formatting = null
      entry.el = this.top()
      entry.el.formatting = entry
    }
  }

  // ---- inserting elements (where scanHtml would see them)

  checkFoster(): void {
    if (this.fosterParenting && TABLE_STRUCTURE[this.top().tid]) this.fallback('foster parenting')
  }

  create(token: TagToken, ns: number): El {
    const el = new El(token.tagID, ns, token.tagName, ns === HTML_NS ? 0 : integrationPoint(token.tagID, ns, token.attrs))
    this.attach(el, token)
    return el
  }

  insertElement(token: TagToken, ns: number): void {
    this.checkFoster()
    this.push(this.create(token, ns))
  }

  appendElement(token: TagToken, ns: number): void {
    this.checkFoster()
    this.finish(this.create(token, ns))
  }

  insertFakeElement(tid: number, name: string): void {
    this.checkFoster()
    this.push(new El(tid, HTML_NS, name, 0))
  }

  insertFakeRoot(): void {
    this.push(new El($.HTML, HTML_NS, 'html', 0))
  }

  switchToTextParsing(token: TagToken, state: number): void {
    this.insertElement(token, HTML_NS)
    this.tokenizer.state = state as Tokenizer['state']
    this.originalMode = this.mode
    this.mode = M.TEXT
  }

  /** Reports an element created from `token`, now being appended to the current node. */
  attach(el: El, token: TagToken): void {
    const page = this.page
    const scan = page.scan
    const context: Context = this.tmplCount > 0 && this.context === 'document' ? 'template' : this.context
    const doc = context === 'document'
    const foreign = el.ns !== HTML_NS
    const loc = token.location!
    if (!this.fragment && this.firstInHead === undefined && this.headEl !== null && this.stack[this.stack.length - 1] === this.headEl) {
      this.firstInHead = loc.startOffset + this.offsetBase
    }
    let tag: Tag | undefined
    for (const attr of token.attrs) {
      const name = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name
      const first = name.charCodeAt(0)
      // Most attributes (class, id, data-*, aria-*) are none of these: look at the first letter before the name.
      if (!ATTRIBUTE_FIRST[first]) continue
      let kind: InlineAttribute['kind'] | undefined
      if (name === 'style') kind = 'style'
      else if (first === 111 && name.charCodeAt(1) === 110 && name.length > 2) kind = 'handler'
      else if (isUrlAttribute(name) && isJavascriptUrl(attr.value)) kind = 'javascript-url'
      if (kind !== undefined) {
        tag ??= this.tagOf(token, context)
        scan.attributes.push({ kind, name, value: attr.value, tag })
      }
    }
    const tid = el.tid
    if (!REPORTED_ELEMENTS[tid]) return
    if (doc && (tid === $.SCRIPT || tid === $.STYLE || tid === $.LINK)) page.firstLoading = Math.min(page.firstLoading, loc.startOffset + this.offsetBase)
    switch (tid) {
      case $.SCRIPT: {
        tag ??= this.tagOf(token, context)
        // As scanHtml: an SVG script reads `type` but not `language` and loads `href`/`xlink:href`; MathML never runs.
        const svg = el.ns === SVG_NS
        const type = !foreign || (svg && tag.attrs.has('type')) ? scriptType(tag.attrs) : 'classic'
        const src = svg ? tag.attrs.get('href')?.value ?? tag.attrs.get('xlink:href')?.value : foreign ? undefined : tag.attrs.get('src')?.value
        if (type && src !== undefined && type !== 'importmap' && type !== 'speculationrules') {
          scan.external.push(svg ? { element: 'script', destination: 'script', rel: 'script', url: src, tag, noCors: true } : { element: 'script', destination: 'script', rel: 'script', url: src, tag })
          page.code++
        } else if (type && src === undefined) {
          // The text comes with the character tokens; an empty script is dropped at the end.
          const code: InlineCode = { element: 'script', type, text: '', tag }
          scan.inline.push(code)
          el.rec = new Rec(R.CODE, context)
          el.rec.code = code
        }
        break
      }
      case $.STYLE: {
        tag ??= this.tagOf(token, context)
        const code: InlineCode = { element: 'style', text: '', tag }
        scan.inline.push(code)
        page.code++
        el.rec = new Rec(R.CODE, context)
        el.rec.code = code
        break
      }
      case $.LINK: {
        if (foreign) break
        tag ??= this.tagOf(token, context)
        const ref = linkRef(tag)
        if (ref) {
          scan.external.push(ref)
          page.code++
        }
        break
      }
      case $.META: {
        if (foreign || !doc) break
        tag ??= this.tagOf(token, context)
        const inHead = this.headEl !== null && this.headEl.open
        const httpEquiv = tag.attrs.get('http-equiv')?.value.trim().toLowerCase()
        const content = tag.attrs.get('content')?.value
        if ((httpEquiv === 'content-security-policy' || httpEquiv === 'content-security-policy-report-only') && content !== undefined && inHead) {
          scan.metas.push({ content, reportOnly: httpEquiv.endsWith('report-only'), start: tag.start, end: tag.end, tag })
        }
        const charset = tag.attrs.get('charset')?.value ?? (httpEquiv === 'content-type' ? /charset\s*=\s*["']?([^\s"';]+)/i.exec(content ?? '')?.[1] : undefined)
        if (charset !== undefined && !scan.charset) {
          scan.charset = { value: charset.trim().toLowerCase(), tag }
          if (inHead) this.charsetEnd = tag.end
        }
        break
      }
      case $.BASE: {
        if (foreign || !doc || scan.baseHref !== undefined) break
        tag ??= this.tagOf(token, context)
        scan.baseHref = tag.attrs.get('href')?.value
        break
      }
      case $.IFRAME: {
        tag ??= this.tagOf(token, context)
        const srcdoc = tag.attrs.get('srcdoc')
        if (srcdoc !== undefined) this.scanSrcdoc(srcdoc.value, tag)
        break
      }
      case $.TEMPLATE: {
        if (foreign) break
        el.rec = new Rec(R.TEMPLATE, context)
        el.rec.before = page.code
        el.rec.token = token
        el.rec.tag = tag
        break
      }
      case $.NOSCRIPT: {
        // With scripting off (inside noscript content) a nested <noscript> is an element like any other.
        if (foreign || this.fragment) break
        el.rec = new Rec(R.NOSCRIPT, context)
        break
      }
    }
  }

  /** An element left the stack (or was never pushed): complete what it reports. */
  finish(el: El): void {
    const rec = el.rec
    if (rec === null) return
    el.rec = null
    const page = this.page
    if (rec.kind === R.CODE) {
      if (rec.code!.element === 'script') {
        if (rec.code!.text !== '') page.code++
        else page.emptyScripts = true
      }
    } else if (rec.kind === R.TEMPLATE) {
      if (page.code > rec.before) page.scan.templatesWithCode.push(rec.tag ?? this.tagOf(rec.token!, rec.context))
    } else if (rec.start !== -1) {
      // <noscript> content as a browser with scripting off parses it: scanHtml parses the raw source slice.
      const start = rec.start + this.offsetBase
      const end = rec.end + this.offsetBase
      const inner = new Builder(page, true, rec.context === 'document' ? 'noscript' : rec.context, start)
      inner.run(page.html.slice(start, end))
    }
  }

  scanSrcdoc(srcdoc: string, iframe: Tag): void {
    const inner = fastScan(srcdoc).scan
    const scan = this.page.scan
    const relocate = <T extends { tag: Tag }>(item: T): T => ({ ...item, tag: { ...plainTag(iframe), context: 'srcdoc', editable: false } })
    scan.inline.push(...inner.inline.map(relocate))
    scan.attributes.push(...inner.attributes.map(relocate))
    scan.external.push(...inner.external.map(relocate))
    this.page.code += inner.inline.length + inner.external.length
  }

  /** scanHtml's `tagOf`, from the start tag token. */
  tagOf(token: TagToken, context: Context): Tag {
    return new TokenTag(token, context, this.offsetBase, this.page)
  }

  // ---- tokens

  /** Whitespace after text is handled as that text is here (see onCharacter and onWhitespaceCharacter): one token will do. */
  joinsWhitespace(): boolean {
    if (this.target !== null || this.tokenizer.inForeignNode) return true
    const mode = this.mode
    return mode === M.IN_BODY || mode === M.IN_CAPTION || mode === M.IN_CELL || mode === M.IN_TEMPLATE || mode === M.TEXT
  }

  onCharacter(token: CharacterToken): void {
    this.skipNextNewLine = false
    const target = this.target
    if (target !== null) return this.collect(target, token, false)
    if (this.tokenizer.inForeignNode) return
    switch (this.mode) {
      case M.IN_BODY:
      case M.IN_CAPTION:
      case M.IN_CELL:
      case M.IN_TEMPLATE:
        if (this.afe.length !== 0) this.reconstruct()
        return
      case M.TEXT:
        return
      case M.IN_TABLE_TEXT:
        this.pending.push(token)
        this.pendingNonWhitespace = true
        return
      default:
        return this.characterInOtherModes(token)
    }
  }

  onWhitespaceCharacter(token: CharacterToken): void {
    if (this.skipNextNewLine) {
      this.skipNextNewLine = false
      if (token.chars.charCodeAt(0) === 10) {
        if (token.chars.length === 1) return
        token.chars = token.chars.slice(1)
      }
    }
    const target = this.target
    if (target !== null) return this.collect(target, token, false)
    if (this.tokenizer.inForeignNode) return
    switch (this.mode) {
      case M.IN_BODY:
      case M.IN_CAPTION:
      case M.IN_CELL:
      case M.IN_TEMPLATE:
      case M.AFTER_BODY:
      case M.AFTER_AFTER_BODY:
        if (this.afe.length !== 0) this.reconstruct()
        return
      case M.IN_TABLE:
      case M.IN_TABLE_BODY:
      case M.IN_ROW:
        return this.characterInTable(token)
      case M.IN_TABLE_TEXT:
        this.pending.push(token)
        return
      case M.AFTER_AFTER_FRAMESET:
        return this.fallback('frameset')
      default:
        // Inserted as text, or ignored.
        return
    }
  }

  onNullCharacter(token: CharacterToken): void {
    // Outside foreign content the NUL is dropped as scanHtml's BrowserParser drops it.
    if (!this.tokenizer.inForeignNode) return
    this.skipNextNewLine = false
    const target = this.target
    if (target !== null) this.collect(target, token, true)
  }

  /** Text of the current script or style, or the range of a raw `<noscript>`. */
  collect(target: Rec, token: CharacterToken, nul: boolean): void {
    const code = target.code
    if (code !== undefined) {
      // In foreign content each NUL becomes U+FFFD here (the tokenizer already replaced them in raw text).
      code.text += nul && this.tokenizer.inForeignNode ? '\uFFFD'.repeat(token.chars.length) : token.chars
      return
    }
    const loc = token.location!
    if (target.start === -1) target.start = loc.startOffset
    target.end = loc.endOffset
  }

  characterInOtherModes(token: CharacterToken): void {
    switch (this.mode) {
      case M.INITIAL:
        return this.tokenInInitialMode(token)
      case M.BEFORE_HTML:
        return this.tokenBeforeHtml(token)
      case M.BEFORE_HEAD:
        return this.tokenBeforeHead(token)
      case M.IN_HEAD:
        return this.tokenInHead(token)
      case M.AFTER_HEAD:
        return this.tokenAfterHead(token)
      case M.IN_TABLE:
      case M.IN_TABLE_BODY:
      case M.IN_ROW:
        return this.characterInTable(token)
      case M.IN_COLUMN_GROUP:
        return this.tokenInColumnGroup(token)
      case M.AFTER_BODY:
        return this.tokenAfterBody(token)
      case M.AFTER_AFTER_BODY:
        return this.tokenAfterAfterBody(token)
      case M.IN_HEAD_NO_SCRIPT:
      case M.IN_FRAMESET:
      case M.AFTER_FRAMESET:
      case M.AFTER_AFTER_FRAMESET:
        return this.fallback('unmodelled insertion mode')
    }
  }

  onComment(token: Token.CommentToken): void {
    this.skipNextNewLine = false
    if (!this.notInHtml && this.mode === M.IN_TABLE_TEXT) this.tokenInTableText(token)
  }

  onDoctype(token: Token.DoctypeToken): void {
    this.skipNextNewLine = false
    if (this.mode === M.INITIAL) {
      if (!this.fragment) this.doctypeEnd = token.location!.endOffset
      this.quirks = doctypeQuirks(token)
      this.mode = M.BEFORE_HTML
    } else if (this.mode === M.IN_TABLE_TEXT) {
      this.tokenInTableText(token)
    }
  }

  onStartTag(token: TagToken): void {
    this.skipNextNewLine = false
    this.processStartTag(token)
  }

  processStartTag(token: TagToken): void {
    if (this.shouldProcessInForeignContent(token)) this.startTagInForeignContent(token)
    else this.startTagOutsideForeignContent(token)
  }

  onEndTag(token: TagToken): void {
    this.skipNextNewLine = false
    if (this.notInHtml) this.endTagInForeignContent(token)
    else this.endTagOutsideForeignContent(token)
  }

  onEof(token: Token.EOFToken): void {
    switch (this.mode) {
      case M.INITIAL:
        return this.tokenInInitialMode(token)
      case M.BEFORE_HTML:
        return this.tokenBeforeHtml(token)
      case M.BEFORE_HEAD:
        return this.tokenBeforeHead(token)
      case M.IN_HEAD:
        return this.tokenInHead(token)
      case M.AFTER_HEAD:
        return this.tokenAfterHead(token)
      case M.IN_BODY:
      case M.IN_TABLE:
      case M.IN_CAPTION:
      case M.IN_COLUMN_GROUP:
      case M.IN_TABLE_BODY:
      case M.IN_ROW:
      case M.IN_CELL:
        return this.eofInBody(token)
      case M.TEXT:
        this.pop()
        this.mode = this.originalMode
        return this.onEof(token)
      case M.IN_TABLE_TEXT:
        return this.tokenInTableText(token)
      case M.IN_TEMPLATE:
        return this.eofInTemplate(token)
      case M.IN_HEAD_NO_SCRIPT:
        return this.fallback('unmodelled insertion mode')
      default:
        return
    }
  }

  processToken(token: AnyToken): void {
    switch (token.type) {
      case TT.CHARACTER:
        return this.onCharacter(token as CharacterToken)
      case TT.NULL_CHARACTER:
        return this.onNullCharacter(token as CharacterToken)
      case TT.WHITESPACE_CHARACTER:
        return this.onWhitespaceCharacter(token as CharacterToken)
      case TT.COMMENT:
        return this.onComment(token as Token.CommentToken)
      case TT.DOCTYPE:
        return this.onDoctype(token as Token.DoctypeToken)
      case TT.START_TAG:
        return this.processStartTag(token as TagToken)
      case TT.END_TAG:
        return this.onEndTag(token as TagToken)
      case TT.EOF:
        return this.onEof(token as Token.EOFToken)
    }
  }

  // ---- foreign content

  shouldProcessInForeignContent(token: TagToken): boolean {
    if (!this.notInHtml) return false
    const current = this.top()
    if (token.tagID === $.SVG && current.tid === $.ANNOTATION_XML && current.ns === MATHML_NS) return false
    return this.tokenizer.inForeignNode || ((token.tagID === $.MGLYPH || token.tagID === $.MALIGNMARK) && (current.ip & 1) === 0)
  }

  popUntilHtmlOrIntegrationPoint(): void {
    for (let top = this.top(); top.ns !== HTML_NS && top.ip === 0; top = this.top()) this.pop()
  }

  startTagInForeignContent(token: TagToken): void {
    if (foreignContent.causesExit(token)) {
      this.popUntilHtmlOrIntegrationPoint()
      return this.startTagOutsideForeignContent(token)
    }
    const ns = this.top().ns
    if (ns === MATHML_NS) foreignContent.adjustTokenMathMLAttrs(token)
    else if (ns === SVG_NS) {
      foreignContent.adjustTokenSVGTagName(token)
      foreignContent.adjustTokenSVGAttrs(token)
    }
    foreignContent.adjustTokenXMLAttrs(token)
    if (token.selfClosing) this.appendElement(token, ns)
    else this.insertElement(token, ns)
  }

  endTagInForeignContent(token: TagToken): void {
    if (token.tagID === $.P || token.tagID === $.BR) {
      this.popUntilHtmlOrIntegrationPoint()
      return this.endTagOutsideForeignContent(token)
    }
    const s = this.stack
    if (s.length === 1) return
    const name = token.tagName
    const adjusted = foreignContent.SVG_TAG_NAMES_ADJUSTMENT_MAP.get(name)
    let i = s.length - 1
    for (; i >= 0; i--) {
      const e = s[i]!
      if (e.ns === MATHML_NS ? e.name === name : e.ns === SVG_NS && (e.name === name || e.name === adjusted)) break
    }
    if (i > this.indexOfTopmostHtmlElement()) this.shortenToLength(i)
    else this.endTagOutsideForeignContent(token)
  }

  // ---- dispatch by insertion mode

  startTagOutsideForeignContent(token: TagToken): void {
    switch (this.mode) {
      case M.INITIAL:
        return this.tokenInInitialMode(token)
      case M.BEFORE_HTML:
        if (token.tagID === $.HTML) {
          this.insertElement(token, HTML_NS)
          if (!this.fragment) this.htmlTagEnd = token.location!.endOffset + this.offsetBase
          this.mode = M.BEFORE_HEAD
          return
        }
        return this.tokenBeforeHtml(token)
      case M.BEFORE_HEAD:
        if (token.tagID === $.HTML) return this.startTagInBody(token)
        if (token.tagID === $.HEAD) {
          this.insertElement(token, HTML_NS)
          this.headEl = this.top()
          if (!this.fragment) this.headTagEnd = token.location!.endOffset + this.offsetBase
          this.mode = M.IN_HEAD
          return
        }
        return this.tokenBeforeHead(token)
      case M.IN_HEAD:
        return this.startTagInHead(token)
      case M.AFTER_HEAD:
        return this.startTagAfterHead(token)
      case M.IN_BODY:
        return this.startTagInBody(token)
      case M.IN_TABLE:
        return this.startTagInTable(token)
      case M.IN_TABLE_TEXT:
        return this.tokenInTableText(token)
      case M.IN_CAPTION:
        return this.startTagInCaption(token)
      case M.IN_COLUMN_GROUP:
        return this.startTagInColumnGroup(token)
      case M.IN_TABLE_BODY:
        return this.startTagInTableBody(token)
      case M.IN_ROW:
        return this.startTagInRow(token)
      case M.IN_CELL:
        return this.startTagInCell(token)
      case M.IN_TEMPLATE:
        return this.startTagInTemplate(token)
      case M.AFTER_BODY:
        if (token.tagID === $.HTML) return this.startTagInBody(token)
        return this.tokenAfterBody(token)
      case M.AFTER_AFTER_BODY:
        if (token.tagID === $.HTML) return this.startTagInBody(token)
        return this.tokenAfterAfterBody(token)
      default:
        // TEXT never sees a start tag; the head-noscript and frameset modes are not modelled.
        return this.fallback('unmodelled insertion mode')
    }
  }

  endTagOutsideForeignContent(token: TagToken): void {
    const tid = token.tagID
    switch (this.mode) {
      case M.INITIAL:
        return this.tokenInInitialMode(token)
      case M.BEFORE_HTML:
        if (tid === $.HTML || tid === $.HEAD || tid === $.BODY || tid === $.BR) this.tokenBeforeHtml(token)
        return
      case M.BEFORE_HEAD:
        if (tid === $.HEAD || tid === $.BODY || tid === $.HTML || tid === $.BR) this.tokenBeforeHead(token)
        return
      case M.IN_HEAD:
        if (tid === $.HEAD) {
          this.pop()
          this.mode = M.AFTER_HEAD
        } else if (tid === $.BODY || tid === $.BR || tid === $.HTML) this.tokenInHead(token)
        else if (tid === $.TEMPLATE) this.templateEndTag()
        return
      case M.AFTER_HEAD:
        if (tid === $.BODY || tid === $.HTML || tid === $.BR) this.tokenAfterHead(token)
        else if (tid === $.TEMPLATE) this.templateEndTag()
        return
      case M.IN_BODY:
        return this.endTagInBody(token)
      case M.TEXT:
        this.pop()
        this.mode = this.originalMode
        return
      case M.IN_TABLE:
        return this.endTagInTable(token)
      case M.IN_TABLE_TEXT:
        return this.tokenInTableText(token)
      case M.IN_CAPTION:
        return this.endTagInCaption(token)
      case M.IN_COLUMN_GROUP:
        if (tid === $.COLGROUP) {
          if (this.top().tid === $.COLGROUP) {
            this.pop()
            this.mode = M.IN_TABLE
          }
        } else if (tid === $.TEMPLATE) this.templateEndTag()
        else if (tid !== $.COL) this.tokenInColumnGroup(token)
        return
      case M.IN_TABLE_BODY:
        return this.endTagInTableBody(token)
      case M.IN_ROW:
        return this.endTagInRow(token)
      case M.IN_CELL:
        return this.endTagInCell(token)
      case M.IN_TEMPLATE:
        if (tid === $.TEMPLATE) this.templateEndTag()
        return
      case M.AFTER_BODY:
        if (tid === $.HTML) {
          if (!this.fragment) this.mode = M.AFTER_AFTER_BODY
          return
        }
        return this.tokenAfterBody(token)
      case M.AFTER_AFTER_BODY:
        return this.tokenAfterAfterBody(token)
      default:
        return this.fallback('unmodelled insertion mode')
    }
  }

  // ---- initial, before html, before head, in head, after head

  tokenInInitialMode(token: AnyToken): void {
    this.quirks = 1
    this.mode = M.BEFORE_HTML
    this.processToken(token)
  }

  tokenBeforeHtml(token: AnyToken): void {
    this.insertFakeRoot()
    this.mode = M.BEFORE_HEAD
    this.processToken(token)
  }

  tokenBeforeHead(token: AnyToken): void {
    this.insertFakeElement($.HEAD, 'head')
    this.headEl = this.top()
    this.mode = M.IN_HEAD
    this.processToken(token)
  }

  startTagInHead(token: TagToken): void {
    switch (token.tagID) {
      case $.HTML:
        return this.startTagInBody(token)
      case $.BASE:
      case $.BASEFONT:
      case $.BGSOUND:
      case $.LINK:
      case $.META:
        return this.appendElement(token, HTML_NS)
      case $.TITLE:
        return this.switchToTextParsing(token, TokenizerMode.RCDATA)
      case $.NOSCRIPT:
        // Scripting off: "in head noscript" is not modelled (a <noscript> fragment never opens a head).
        if (this.fragment) this.fallback('noscript in head with scripting off')
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case $.NOFRAMES:
      case $.STYLE:
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case $.SCRIPT:
        return this.switchToTextParsing(token, TokenizerMode.SCRIPT_DATA)
      case $.TEMPLATE:
        this.insertElement(token, HTML_NS)
        this.afe.push(null)
        this.mode = M.IN_TEMPLATE
        this.tmplModes.push(M.IN_TEMPLATE)
        return
      case $.HEAD:
        return
      default:
        return this.tokenInHead(token)
    }
  }

  templateEndTag(): void {
    if (this.tmplCount > 0) {
      this.generateImpliedEndTagsThoroughly()
      this.popUntilTagNamePopped($.TEMPLATE)
      this.clearToLastMarker()
      this.tmplModes.pop()
      this.resetInsertionMode()
    }
  }

  tokenInHead(token: AnyToken): void {
    this.pop()
    this.mode = M.AFTER_HEAD
    this.processToken(token)
  }

  startTagAfterHead(token: TagToken): void {
    const tid = token.tagID
    if (tid === $.HTML) return this.startTagInBody(token)
    if (tid === $.BODY) {
      this.insertElement(token, HTML_NS)
      this.mode = M.IN_BODY
      return
    }
    if (tid === $.FRAMESET) return this.fallback('frameset')
    if (HEAD_CONTENT_AFTER_HEAD[tid]) {
      // Head content after </head> still goes into <head>.
      const head = this.headEl!
      this.push(head)
      this.startTagInHead(token)
      this.remove(head)
      return
    }
    if (tid === $.HEAD) return
    this.tokenAfterHead(token)
  }

  tokenAfterHead(token: AnyToken): void {
    this.insertFakeElement($.BODY, 'body')
    this.mode = M.IN_BODY
    this.modeInBody(token)
  }

  // ---- in body

  modeInBody(token: AnyToken): void {
    switch (token.type) {
      case TT.CHARACTER:
      case TT.WHITESPACE_CHARACTER:
        if (this.afe.length !== 0) this.reconstruct()
        return
      case TT.START_TAG:
        return this.startTagInBody(token as TagToken)
      case TT.END_TAG:
        return this.endTagInBody(token as TagToken)
      case TT.EOF:
        return this.eofInBody(token)
    }
  }

  startTagInBody(token: TagToken): void {
    switch (BODY_START[token.tagID] as B) {
      case B.FORMATTING:
        this.reconstruct()
        this.insertElement(token, HTML_NS)
        return this.pushFormatting(this.top(), token)
      case B.A: {
        const active = this.formattingInScopeWithTagName('a')
        if (active) {
          this.callAdoptionAgency(token)
          this.remove(active.el)
          this.removeFormatting(active)
        }
        this.reconstruct()
        this.insertElement(token, HTML_NS)
        return this.pushFormatting(this.top(), token)
      }
      case B.HEADING:
        if (this.pInButtonScope()) this.closePElement()
        if (NUMBERED_HEADERS.includes(this.top().tid)) this.pop()
        return this.insertElement(token, HTML_NS)
      case B.BLOCK:
        if (this.pInButtonScope()) this.closePElement()
        return this.insertElement(token, HTML_NS)
      case B.LIST_ITEM: {
        const idx = token.tagID === $.LI ? this.indexOfTopmost($.LI) : Math.max(this.indexOfTopmost($.DD), this.indexOfTopmost($.DT))
        if (idx !== -1 && !this.hasAbove(idx, LIST_ITEM_BOUNDARY)) {
          const tid = this.stack[idx]!.tid
          this.generateImpliedEndTagsWithExclusion(tid)
          this.popUntilTagNamePopped(tid)
        }
        if (this.pInButtonScope()) this.closePElement()
        return this.insertElement(token, HTML_NS)
      }
      case B.VOID:
        this.reconstruct()
        return this.appendElement(token, HTML_NS)
      case B.HR:
        if (this.pInButtonScope()) this.closePElement()
        if (this.selectInScope()) this.generateImpliedEndTags()
        return this.appendElement(token, HTML_NS)
      case B.RB:
        if (this.inScope($.RUBY, SCOPE)) this.generateImpliedEndTags()
        return this.insertElement(token, HTML_NS)
      case B.RT:
        if (this.inScope($.RUBY, SCOPE)) this.generateImpliedEndTagsWithExclusion($.RTC)
        return this.insertElement(token, HTML_NS)
      case B.PRE:
        if (this.pInButtonScope()) this.closePElement()
        this.insertElement(token, HTML_NS)
        this.skipNextNewLine = true
        return
      case B.XMP:
        if (this.pInButtonScope()) this.closePElement()
        this.reconstruct()
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case B.SVG:
        this.reconstruct()
        foreignContent.adjustTokenSVGAttrs(token)
        foreignContent.adjustTokenXMLAttrs(token)
        if (token.selfClosing) return this.appendElement(token, SVG_NS)
        return this.insertElement(token, SVG_NS)
      case B.HTML:
        // A second <html> tag adds its attributes to the root, which scanHtml then reports without offsets.
        if (this.tmplCount === 0 && token.attrs.length > 0 && !this.fragment) this.fallback('attributes merged into <html>')
        return
      case B.HEAD_CONTENT:
        return this.startTagInHead(token)
      case B.BODY: {
        const body = this.stack.length > 1 && this.stack[1]!.tid === $.BODY ? this.stack[1] : undefined
        if (body && this.tmplCount === 0 && token.attrs.length > 0) this.fallback('attributes merged into <body>')
        return
      }
      case B.FORM: {
        const inTemplate = this.tmplCount > 0
        if (!this.formEl || inTemplate) {
          if (this.pInButtonScope()) this.closePElement()
          this.insertElement(token, HTML_NS)
          if (!inTemplate) this.formEl = this.top()
        }
        return
      }
      case B.NOBR:
        this.reconstruct()
        if (this.inScope($.NOBR, SCOPE)) {
          this.callAdoptionAgency(token)
          this.reconstruct()
        }
        this.insertElement(token, HTML_NS)
        return this.pushFormatting(this.top(), token)
      case B.MATH:
        this.reconstruct()
        foreignContent.adjustTokenMathMLAttrs(token)
        foreignContent.adjustTokenXMLAttrs(token)
        if (token.selfClosing) return this.appendElement(token, MATHML_NS)
        return this.insertElement(token, MATHML_NS)
      case B.TABLE:
        if (this.quirks !== 1 && this.pInButtonScope()) {
          if (this.quirks === 2) this.fallback('<table> in <p> under a doctype with a public id')
          this.closePElement()
        }
        this.insertElement(token, HTML_NS)
        this.mode = M.IN_TABLE
        return
      case B.INPUT:
        if (this.selectInScope()) this.popUntilTagNamePopped($.SELECT)
        this.reconstruct()
        return this.appendElement(token, HTML_NS)
      case B.PARAM:
        return this.appendElement(token, HTML_NS)
      case B.IMAGE:
        token.tagName = 'img'
        token.tagID = $.IMG
        this.reconstruct()
        return this.appendElement(token, HTML_NS)
      case B.BUTTON:
        if (this.inScope($.BUTTON, SCOPE)) {
          this.generateImpliedEndTags()
          this.popUntilTagNamePopped($.BUTTON)
        }
        this.reconstruct()
        return this.insertElement(token, HTML_NS)
      case B.APPLET:
        this.reconstruct()
        this.insertElement(token, HTML_NS)
        this.afe.push(null)
        return
      case B.IFRAME:
      case B.RAWTEXT:
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case B.SELECT:
        // Select content is parsed in body (no select modes); a select inside a select is ignored and closes it.
        if (this.selectInScope()) return this.popUntilTagNamePopped($.SELECT)
        this.reconstruct()
        return this.insertElement(token, HTML_NS)
      case B.OPTION:
        if (this.selectInScope()) {
          if (token.tagID === $.OPTION) this.generateImpliedEndTagsExcept($.OPTGROUP)
          else this.generateImpliedEndTags()
        } else if (this.top().tid === $.OPTION) this.pop()
        this.reconstruct()
        return this.insertElement(token, HTML_NS)
      case B.FRAMESET:
        return this.fallback('frameset')
      case B.TEXTAREA:
        this.insertElement(token, HTML_NS)
        this.skipNextNewLine = true
        this.tokenizer.state = TokenizerMode.RCDATA as Tokenizer['state']
        this.originalMode = this.mode
        this.mode = M.TEXT
        return
      case B.NOSCRIPT:
        if (!this.fragment) return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
        this.reconstruct()
        return this.insertElement(token, HTML_NS)
      case B.PLAINTEXT:
        return this.fallback('plaintext')
      case B.IGNORE:
        return
      default:
        this.reconstruct()
        return this.insertElement(token, HTML_NS)
    }
  }

  endTagInBody(token: TagToken): void {
    const tid = token.tagID
    switch (BODY_END[tid] as E) {
      case E.FORMATTING:
        return this.callAdoptionAgency(token)
      case E.P:
        if (!this.pInButtonScope()) this.insertFakeElement($.P, 'p')
        return this.closePElement()
      case E.BLOCK:
        // The usual case: it closes the current node.
        if (this.top().key === tid) return this.pop()
        if (this.inScope(tid, SCOPE)) {
          this.generateImpliedEndTags()
          this.popUntilTagNamePopped(tid)
        }
        return
      case E.LI:
        if (this.inScope($.LI, LIST_ITEM_SCOPE)) {
          this.generateImpliedEndTagsWithExclusion($.LI)
          this.popUntilTagNamePopped($.LI)
        }
        return
      case E.DD:
        if (this.inScope(tid, SCOPE)) {
          this.generateImpliedEndTagsWithExclusion(tid)
          this.popUntilTagNamePopped(tid)
        }
        return
      case E.HEADING:
        if (this.anyInScope(NUMBERED_HEADERS, SCOPE)) {
          this.generateImpliedEndTags()
          this.shortenToLength(Math.max(this.indexOfTopmostOf(NUMBERED_HEADERS), 0))
        }
        return
      case E.BR:
        this.reconstruct()
        this.insertFakeElement($.BR, 'br')
        return this.pop()
      case E.BODY:
        if (this.inScope($.BODY, SCOPE)) this.mode = M.AFTER_BODY
        return
      case E.HTML:
        if (this.inScope($.BODY, SCOPE)) {
          this.mode = M.AFTER_BODY
          if (!this.fragment) this.mode = M.AFTER_AFTER_BODY
        }
        return
      case E.FORM: {
        const inTemplate = this.tmplCount > 0
        const form = this.formEl
        if (!inTemplate) this.formEl = null
        if ((form || inTemplate) && this.inScope($.FORM, SCOPE)) {
          this.generateImpliedEndTags()
          if (inTemplate) this.popUntilTagNamePopped($.FORM)
          else if (form) this.remove(form)
        }
        return
      }
      case E.APPLET:
        if (this.inScope(tid, SCOPE)) {
          this.generateImpliedEndTags()
          this.popUntilTagNamePopped(tid)
          this.clearToLastMarker()
        }
        return
      case E.TEMPLATE:
        return this.templateEndTag()
      case E.SELECT:
        if (this.selectInScope()) this.popUntilTagNamePopped($.SELECT)
        return
      default:
        return this.genericEndTagInBody(token)
    }
  }

  genericEndTagInBody(token: TagToken): void {
    const tid = token.tagID
    const top = this.top()
    // The usual case: it closes the current node (nothing above it, so no implied end tags either).
    if (this.stack.length > 1 && (tid === $.UNKNOWN ? top.ns === HTML_NS && top.name === token.tagName : top.key === tid)) return this.pop()
    let i: number
    if (tid === $.UNKNOWN) {
      const s = this.stack
      for (i = s.length - 1; i >= 0; i--) if (s[i]!.ns === HTML_NS && s[i]!.name === token.tagName) break
    } else i = this.indexOfTopmost(tid)
    if (i > 0 && !this.hasAbove(i, SPECIAL)) {
      this.generateImpliedEndTagsWithExclusion(tid)
      if (this.stack.length - 1 >= i) this.shortenToLength(i)
    }
  }

  /** The adoption agency, when it only closes elements; with a furthest block it moves and clones elements. */
  callAdoptionAgency(token: TagToken): void {
    const current = this.top()
    if (current.tid === token.tagID && current.ns === HTML_NS && current.formatting === null) {
      this.pop()
      return
    }
    let entry = this.formattingInScopeWithTagName(token.tagName)
    if (entry) {
      if (!entry.el.open) {
        this.removeFormatting(entry)
        entry = undefined
      } else if (!this.inScope(token.tagID, SCOPE, entry.el)) entry = undefined
    } else this.genericEndTagInBody(token)
    if (!entry) return
    const idx = this.stack.lastIndexOf(entry.el)
    if (this.hasAbove(idx, SPECIAL)) this.fallback('adoption agency')
    this.shortenToLength(idx)
    this.removeFormatting(entry)
  }

  eofInBody(token: AnyToken): void {
    if (this.tmplModes.length > 0) this.eofInTemplate(token)
  }

  eofInTemplate(token: AnyToken): void {
    if (this.tmplCount > 0) {
      do {
        this.popUntilTagNamePopped($.TEMPLATE)
        this.clearToLastMarker()
        this.tmplModes.pop()
      } while (this.tmplCount > 0)
      this.resetInsertionMode()
      this.onEof(token as Token.EOFToken)
    }
  }

  // ---- tables

  characterInTable(token: CharacterToken): void {
    if (TABLE_STRUCTURE[this.top().tid]) {
      this.pending = []
      this.pendingNonWhitespace = false
      this.originalMode = this.mode
      this.mode = M.IN_TABLE_TEXT
      if (token.type === TT.CHARACTER) {
        this.pending.push(token)
        this.pendingNonWhitespace = true
      } else if (token.type === TT.WHITESPACE_CHARACTER) this.pending.push(token)
    } else this.tokenInTable(token)
  }

  tokenInTable(token: AnyToken): void {
    const saved = this.fosterParenting
    this.fosterParenting = true
    this.modeInBody(token)
    this.fosterParenting = saved
  }

  tokenInTableText(token: AnyToken): void {
    if (this.pendingNonWhitespace) for (const pending of this.pending) this.tokenInTable(pending)
    this.mode = this.originalMode
    this.processToken(token)
  }

  startTagInTable(token: TagToken): void {
    switch (token.tagID) {
      case $.TD:
      case $.TH:
      case $.TR:
        this.clearBackTo(TABLE_CONTEXT)
        this.insertFakeElement($.TBODY, 'tbody')
        this.mode = M.IN_TABLE_BODY
        return this.startTagInTableBody(token)
      case $.STYLE:
      case $.SCRIPT:
      case $.TEMPLATE:
        return this.startTagInHead(token)
      case $.COL:
        this.clearBackTo(TABLE_CONTEXT)
        this.insertFakeElement($.COLGROUP, 'colgroup')
        this.mode = M.IN_COLUMN_GROUP
        return this.startTagInColumnGroup(token)
      case $.FORM:
        if (!this.formEl && this.tmplCount === 0) {
          this.insertElement(token, HTML_NS)
          this.formEl = this.top()
          this.pop()
        }
        return
      case $.TABLE:
        if (this.inScope($.TABLE, TABLE_SCOPE)) {
          this.popUntilTagNamePopped($.TABLE)
          this.resetInsertionMode()
          this.processStartTag(token)
        }
        return
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        this.clearBackTo(TABLE_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.mode = M.IN_TABLE_BODY
        return
      case $.INPUT:
        if (isHiddenInput(token)) return this.appendElement(token, HTML_NS)
        return this.tokenInTable(token)
      case $.CAPTION:
        this.clearBackTo(TABLE_CONTEXT)
        this.afe.push(null)
        this.insertElement(token, HTML_NS)
        this.mode = M.IN_CAPTION
        return
      case $.COLGROUP:
        this.clearBackTo(TABLE_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.mode = M.IN_COLUMN_GROUP
        return
      default:
        return this.tokenInTable(token)
    }
  }

  endTagInTable(token: TagToken): void {
    switch (token.tagID) {
      case $.TABLE:
        if (this.inScope($.TABLE, TABLE_SCOPE)) {
          this.popUntilTagNamePopped($.TABLE)
          this.resetInsertionMode()
        }
        return
      case $.TEMPLATE:
        return this.templateEndTag()
      case $.BODY:
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.HTML:
      case $.TBODY:
      case $.TD:
      case $.TFOOT:
      case $.TH:
      case $.THEAD:
      case $.TR:
        return
      default:
        return this.tokenInTable(token)
    }
  }

  startTagInCaption(token: TagToken): void {
    if (TABLE_VOID[token.tagID]) {
      if (this.inScope($.CAPTION, TABLE_SCOPE)) {
        this.generateImpliedEndTags()
        this.popUntilTagNamePopped($.CAPTION)
        this.clearToLastMarker()
        this.mode = M.IN_TABLE
        this.startTagInTable(token)
      }
    } else this.startTagInBody(token)
  }

  endTagInCaption(token: TagToken): void {
    const tid = token.tagID
    switch (tid) {
      case $.CAPTION:
      case $.TABLE:
        if (this.inScope($.CAPTION, TABLE_SCOPE)) {
          this.generateImpliedEndTags()
          this.popUntilTagNamePopped($.CAPTION)
          this.clearToLastMarker()
          this.mode = M.IN_TABLE
          if (tid === $.TABLE) this.endTagInTable(token)
        }
        return
      case $.BODY:
      case $.COL:
      case $.COLGROUP:
      case $.HTML:
      case $.TBODY:
      case $.TD:
      case $.TFOOT:
      case $.TH:
      case $.THEAD:
      case $.TR:
        return
      default:
        return this.endTagInBody(token)
    }
  }

  startTagInColumnGroup(token: TagToken): void {
    switch (token.tagID) {
      case $.HTML:
        return this.startTagInBody(token)
      case $.COL:
        return this.appendElement(token, HTML_NS)
      case $.TEMPLATE:
        return this.startTagInHead(token)
      default:
        return this.tokenInColumnGroup(token)
    }
  }

  tokenInColumnGroup(token: AnyToken): void {
    if (this.top().tid === $.COLGROUP) {
      this.pop()
      this.mode = M.IN_TABLE
      this.processToken(token)
    }
  }

  startTagInTableBody(token: TagToken): void {
    switch (token.tagID) {
      case $.TR:
        this.clearBackTo(TABLE_BODY_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.mode = M.IN_ROW
        return
      case $.TH:
      case $.TD:
        this.clearBackTo(TABLE_BODY_CONTEXT)
        this.insertFakeElement($.TR, 'tr')
        this.mode = M.IN_ROW
        return this.startTagInRow(token)
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        if (this.anyInScope(TABLE_BODIES, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_BODY_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE
          this.startTagInTable(token)
        }
        return
      default:
        return this.startTagInTable(token)
    }
  }

  endTagInTableBody(token: TagToken): void {
    const tid = token.tagID
    switch (tid) {
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        if (this.inScope(tid, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_BODY_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE
        }
        return
      case $.TABLE:
        if (this.anyInScope(TABLE_BODIES, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_BODY_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE
          this.endTagInTable(token)
        }
        return
      case $.BODY:
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.HTML:
      case $.TD:
      case $.TH:
      case $.TR:
        return
      default:
        return this.endTagInTable(token)
    }
  }

  startTagInRow(token: TagToken): void {
    switch (token.tagID) {
      case $.TH:
      case $.TD:
        this.clearBackTo(TABLE_ROW_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.mode = M.IN_CELL
        this.afe.push(null)
        return
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
      case $.TR:
        if (this.inScope($.TR, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_ROW_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE_BODY
          this.startTagInTableBody(token)
        }
        return
      default:
        return this.startTagInTable(token)
    }
  }

  endTagInRow(token: TagToken): void {
    const tid = token.tagID
    switch (tid) {
      case $.TR:
        if (this.inScope($.TR, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_ROW_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE_BODY
        }
        return
      case $.TABLE:
        if (this.inScope($.TR, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_ROW_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE_BODY
          this.endTagInTableBody(token)
        }
        return
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        if (this.inScope(tid, TABLE_SCOPE) || this.inScope($.TR, TABLE_SCOPE)) {
          this.clearBackTo(TABLE_ROW_CONTEXT)
          this.pop()
          this.mode = M.IN_TABLE_BODY
          this.endTagInTableBody(token)
        }
        return
      case $.BODY:
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.HTML:
      case $.TD:
      case $.TH:
        return
      default:
        return this.endTagInTable(token)
    }
  }

  startTagInCell(token: TagToken): void {
    if (TABLE_VOID[token.tagID]) {
      if (this.inScope($.TD, TABLE_SCOPE) || this.inScope($.TH, TABLE_SCOPE)) {
        this.closeTableCell()
        this.startTagInRow(token)
      }
    } else this.startTagInBody(token)
  }

  closeTableCell(): void {
    this.generateImpliedEndTags()
    this.shortenToLength(Math.max(this.indexOfTopmostOf(TABLE_CELLS), 0))
    this.clearToLastMarker()
    this.mode = M.IN_ROW
  }

  endTagInCell(token: TagToken): void {
    const tid = token.tagID
    switch (tid) {
      case $.TD:
      case $.TH:
        if (this.inScope(tid, TABLE_SCOPE)) {
          this.generateImpliedEndTags()
          this.popUntilTagNamePopped(tid)
          this.clearToLastMarker()
          this.mode = M.IN_ROW
        }
        return
      case $.TABLE:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
      case $.TR:
        if (this.inScope(tid, TABLE_SCOPE)) {
          this.closeTableCell()
          this.endTagInRow(token)
        }
        return
      case $.BODY:
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.HTML:
        return
      default:
        return this.endTagInBody(token)
    }
  }

  // ---- template, after body

  startTagInTemplate(token: TagToken): void {
    const modes = this.tmplModes
    switch (token.tagID) {
      case $.BASE:
      case $.BASEFONT:
      case $.BGSOUND:
      case $.LINK:
      case $.META:
      case $.NOFRAMES:
      case $.SCRIPT:
      case $.STYLE:
      case $.TEMPLATE:
      case $.TITLE:
        return this.startTagInHead(token)
      case $.CAPTION:
      case $.COLGROUP:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        modes[modes.length - 1] = M.IN_TABLE
        this.mode = M.IN_TABLE
        return this.startTagInTable(token)
      case $.COL:
        modes[modes.length - 1] = M.IN_COLUMN_GROUP
        this.mode = M.IN_COLUMN_GROUP
        return this.startTagInColumnGroup(token)
      case $.TR:
        modes[modes.length - 1] = M.IN_TABLE_BODY
        this.mode = M.IN_TABLE_BODY
        return this.startTagInTableBody(token)
      case $.TD:
      case $.TH:
        modes[modes.length - 1] = M.IN_ROW
        this.mode = M.IN_ROW
        return this.startTagInRow(token)
      default:
        modes[modes.length - 1] = M.IN_BODY
        this.mode = M.IN_BODY
        return this.startTagInBody(token)
    }
  }

  tokenAfterBody(token: AnyToken): void {
    this.mode = M.IN_BODY
    this.modeInBody(token)
  }

  tokenAfterAfterBody(token: AnyToken): void {
    this.mode = M.IN_BODY
    this.modeInBody(token)
  }

  resetInsertionMode(): void {
    const i = this.indexOfTopmostOf(INSERTION_MODE_TAGS)
    const tid = i === 0 && this.fragment ? $.TEMPLATE : i === -1 ? -1 : this.stack[i]!.tid
    switch (tid) {
      case $.TR:
        this.mode = M.IN_ROW
        return
      case $.TBODY:
      case $.THEAD:
      case $.TFOOT:
        this.mode = M.IN_TABLE_BODY
        return
      case $.CAPTION:
        this.mode = M.IN_CAPTION
        return
      case $.COLGROUP:
        this.mode = M.IN_COLUMN_GROUP
        return
      case $.TABLE:
        this.mode = M.IN_TABLE
        return
      case $.BODY:
        this.mode = M.IN_BODY
        return
      case $.FRAMESET:
        return this.fallback('frameset')
      case $.TEMPLATE:
        this.mode = this.tmplModes[this.tmplModes.length - 1]!
        return
      case $.HTML:
        this.mode = this.headEl ? M.AFTER_HEAD : M.BEFORE_HEAD
        return
      case $.TD:
      case $.TH:
        if (i > 0) {
          this.mode = M.IN_CELL
          return
        }
        break
      case $.HEAD:
        if (i > 0) {
          this.mode = M.IN_HEAD
          return
        }
        break
    }
    this.mode = M.IN_BODY
  }
}

function arkKey(token: TagToken): string {
  return token.tagName + token.attrs.map(({ name, value }) => `\0${name}\0${value}`).sort().join('')
}

/** 1 for quirks mode, 0 for no quirks, 2 when the public id would need parse5's lists (only `<table>` in `<p>` cares). */
function doctypeQuirks(token: Token.DoctypeToken): number {
  if (token.forceQuirks || token.name !== 'html') return 1
  if (token.systemId && token.systemId.toLowerCase() === 'http://www.ibm.com/data/dtd/v11/ibmxhtml1-transitional.dtd') return 1
  return token.publicId === null ? 0 : 2
}

/**
 * Like {@link fastScanHtml}, and says which construct made it use the tree (`fallback`), if one did.
 * @internal
 */
export function fastScan(html: string): { scan: Scan; fallback?: string } {
  const scan: Scan = { inline: [], external: [], attributes: [], metas: [], metaInsert: 0, templatesWithCode: [] }
  const page: Page = { html, lines: new LineIndex(html), scan, code: 0, emptyScripts: false, firstLoading: Infinity }
  const builder = new Builder(page, false, 'document', 0)
  try {
    builder.run(html)
  } catch (error) {
    // A bug here must not fail a build the tree can scan; the reason says which (tests fail on "error: …").
    return { scan: scanHtml(html), fallback: error instanceof Fallback ? error.message : `error: ${String(error)}` }
  }
  if (page.emptyScripts) scan.inline = scan.inline.filter((code) => code.element !== 'script' || code.text !== '')
  const { charsetEnd } = builder
  scan.metaInsert = charsetEnd !== undefined && charsetEnd <= page.firstLoading ? charsetEnd : builder.headTagEnd ?? builder.firstInHead ?? builder.htmlTagEnd ?? builder.doctypeEnd ?? 0
  return { scan }
}

/**
 * `scanHtml`'s result, computed from parse5's tokenizer and a model of its tree builder instead of a tree: faster
 * than parse5's bare tokenizer, since text is read in runs. Pages with constructs the model does not follow are
 * scanned by `scanHtml`.
 */
export function fastScanHtml(html: string): Scan {
  return fastScan(html).scan
}
