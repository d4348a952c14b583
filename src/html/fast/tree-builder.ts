import { foreignContent, html as H, Token, type Tokenizer, TokenizerMode } from 'parse5'
import type { Context } from '../rules.js'
import { RunTokenizer, type RunTokenHandler } from '../tokenizer.js'
import { FormattingElementList } from './formatting-element-list.js'
import { NotModelled } from './not-modelled.js'
import { LIST_ITEM_BOUNDARY, LIST_ITEM_SCOPE, OpenElementStack, SCOPE, SPECIAL, TABLE_SCOPE, tagSet, type StackHandler } from './open-element-stack.js'
import { HTML_INTEGRATION_POINT, HTML_NS, MATHML_NS, MATHML_TEXT_INTEGRATION_POINT, OpenElement, SVG_NS, type PendingReport } from './open-element.js'
import type { PageRecord } from './page-record.js'

/*
 * A model of parse5's tree builder (HTML §13.2.6, "tree construction") that keeps only what decides what the scan
 * reports: the stack of open elements (names, namespaces, integration points), the insertion mode, the list of
 * active formatting elements (their clones repeat attributes), the template insertion modes, the head and form
 * element pointers. It builds no tree: each element is reported to the page record when it is inserted. The methods
 * follow parse5's parser function by function (node_modules/parse5/dist/parser/index.js) so that the two can be
 * compared; parse5's quirks are kept on purpose, since the scan must equal `scanHtml`'s.
 *
 * What the model does not follow throws NotModelled, and the page is scanned from parse5's tree instead:
 * foster-parented elements (content misplaced in tables), the adoption agency with a furthest block (misnested
 * formatting elements around blocks), frameset documents, `<plaintext>`, attributes merged into `<html>`/`<body>`
 * by a second tag, a `<table>` inside `<p>` under a doctype whose quirks mode this module does not compute.
 */

type TagToken = Token.TagToken
type CharacterToken = Token.CharacterToken
type AnyToken = Token.Token

const $ = H.TAG_ID
const TT = Token.TokenType

/** The insertion modes (HTML §13.2.4.1), numbered as parse5's. */
const enum InsertionMode {
  INITIAL,
  BEFORE_HTML,
  BEFORE_HEAD,
  IN_HEAD,
  IN_HEAD_NO_SCRIPT,
  AFTER_HEAD,
  IN_BODY,
  TEXT,
  IN_TABLE,
  IN_TABLE_TEXT,
  IN_CAPTION,
  IN_COLUMN_GROUP,
  IN_TABLE_BODY,
  IN_ROW,
  IN_CELL,
  IN_SELECT,
  IN_SELECT_IN_TABLE,
  IN_TEMPLATE,
  AFTER_BODY,
  IN_FRAMESET,
  AFTER_FRAMESET,
  AFTER_AFTER_BODY,
  AFTER_AFTER_FRAMESET,
}

/** The document's quirks mode, as far as the model needs it: only a `<table>` start tag inside `<p>` depends on it. */
const enum DocumentMode {
  NO_QUIRKS,
  QUIRKS,
  /** A doctype with a public identifier, whose mode would need parse5's lists of identifiers. */
  NOT_COMPUTED,
}

const TABLE_STRUCTURE = tagSet($.TABLE, $.TBODY, $.TFOOT, $.THEAD, $.TR)
const TABLE_VOID = tagSet($.CAPTION, $.COL, $.COLGROUP, $.TBODY, $.TD, $.TFOOT, $.TH, $.THEAD, $.TR)
const NUMBERED_HEADERS = [$.H1, $.H2, $.H3, $.H4, $.H5, $.H6]
const TABLE_BODIES = [$.TBODY, $.TFOOT, $.THEAD]
const TABLE_CONTEXT = [$.TABLE, $.TEMPLATE, $.HTML]
const TABLE_BODY_CONTEXT = [$.TBODY, $.TFOOT, $.THEAD, $.TEMPLATE, $.HTML]
const TABLE_ROW_CONTEXT = [$.TR, $.TEMPLATE, $.HTML]
const TABLE_CELLS = [$.TD, $.TH]
/** End tags that each table insertion mode ignores (parse errors). */
const IGNORED_END_TAGS_IN_TABLE = tagSet($.BODY, $.CAPTION, $.COL, $.COLGROUP, $.HTML, $.TBODY, $.TD, $.TFOOT, $.TH, $.THEAD, $.TR)
const IGNORED_END_TAGS_IN_CAPTION = tagSet($.BODY, $.COL, $.COLGROUP, $.HTML, $.TBODY, $.TD, $.TFOOT, $.TH, $.THEAD, $.TR)
const IGNORED_END_TAGS_IN_TABLE_BODY = tagSet($.BODY, $.CAPTION, $.COL, $.COLGROUP, $.HTML, $.TD, $.TH, $.TR)
const IGNORED_END_TAGS_IN_ROW = tagSet($.BODY, $.CAPTION, $.COL, $.COLGROUP, $.HTML, $.TD, $.TH)
const IGNORED_END_TAGS_IN_CELL = tagSet($.BODY, $.CAPTION, $.COL, $.COLGROUP, $.HTML)
/** The elements that "reset the insertion mode appropriately" looks for; `<select>` no longer selects a mode. */
const INSERTION_MODE_TAGS = [$.TR, $.TBODY, $.THEAD, $.TFOOT, $.CAPTION, $.COLGROUP, $.TABLE, $.FRAMESET, $.TEMPLATE, $.TD, $.TH, $.HEAD, $.BODY, $.HTML]
/** Head content that a start tag after `</head>` still puts into `<head>`. */
const HEAD_CONTENT_AFTER_HEAD = tagSet($.BASE, $.BASEFONT, $.BGSOUND, $.LINK, $.META, $.NOFRAMES, $.SCRIPT, $.STYLE, $.TEMPLATE, $.TITLE)

/** What a start tag does in the "in body" insertion mode: its rule in HTML §13.2.6.4.7, by tag ID. */
const enum InBodyStartTag {
  GENERIC,
  FORMATTING,
  A,
  HEADING,
  BLOCK,
  LIST_ITEM,
  VOID,
  HR,
  RB,
  RT,
  PRE,
  XMP,
  SVG,
  HTML,
  HEAD_CONTENT,
  BODY,
  FORM,
  NOBR,
  MATH,
  TABLE,
  INPUT,
  PARAM,
  IMAGE,
  BUTTON,
  APPLET,
  IFRAME,
  SELECT,
  OPTION,
  RAWTEXT,
  FRAMESET,
  TEXTAREA,
  NOSCRIPT,
  PLAINTEXT,
  IGNORE,
}
const IN_BODY_START = new Uint8Array(256)
const setRule = (table: Uint8Array, rule: number, ...tagIDs: number[]) => tagIDs.forEach((tagID) => (table[tagID] = rule))
setRule(IN_BODY_START, InBodyStartTag.FORMATTING, $.I, $.S, $.B, $.U, $.EM, $.TT, $.BIG, $.CODE, $.FONT, $.SMALL, $.STRIKE, $.STRONG)
setRule(IN_BODY_START, InBodyStartTag.A, $.A)
setRule(IN_BODY_START, InBodyStartTag.HEADING, ...NUMBERED_HEADERS)
setRule(
  IN_BODY_START,
  InBodyStartTag.BLOCK,
  $.P,
  $.DL,
  $.OL,
  $.UL,
  $.DIV,
  $.DIR,
  $.NAV,
  $.MAIN,
  $.MENU,
  $.ASIDE,
  $.CENTER,
  $.FIGURE,
  $.FOOTER,
  $.HEADER,
  $.HGROUP,
  $.DIALOG,
  $.DETAILS,
  $.ADDRESS,
  $.ARTICLE,
  $.SEARCH,
  $.SECTION,
  $.SUMMARY,
  $.FIELDSET,
  $.BLOCKQUOTE,
  $.FIGCAPTION,
)
setRule(IN_BODY_START, InBodyStartTag.LIST_ITEM, $.LI, $.DD, $.DT)
setRule(IN_BODY_START, InBodyStartTag.VOID, $.BR, $.IMG, $.WBR, $.AREA, $.EMBED, $.KEYGEN)
setRule(IN_BODY_START, InBodyStartTag.HR, $.HR)
setRule(IN_BODY_START, InBodyStartTag.RB, $.RB, $.RTC)
setRule(IN_BODY_START, InBodyStartTag.RT, $.RT, $.RP)
setRule(IN_BODY_START, InBodyStartTag.PRE, $.PRE, $.LISTING)
setRule(IN_BODY_START, InBodyStartTag.XMP, $.XMP)
setRule(IN_BODY_START, InBodyStartTag.SVG, $.SVG)
setRule(IN_BODY_START, InBodyStartTag.HTML, $.HTML)
setRule(IN_BODY_START, InBodyStartTag.HEAD_CONTENT, $.BASE, $.LINK, $.META, $.STYLE, $.TITLE, $.SCRIPT, $.BGSOUND, $.BASEFONT, $.TEMPLATE)
setRule(IN_BODY_START, InBodyStartTag.BODY, $.BODY)
setRule(IN_BODY_START, InBodyStartTag.FORM, $.FORM)
setRule(IN_BODY_START, InBodyStartTag.NOBR, $.NOBR)
setRule(IN_BODY_START, InBodyStartTag.MATH, $.MATH)
setRule(IN_BODY_START, InBodyStartTag.TABLE, $.TABLE)
setRule(IN_BODY_START, InBodyStartTag.INPUT, $.INPUT)
setRule(IN_BODY_START, InBodyStartTag.PARAM, $.PARAM, $.TRACK, $.SOURCE)
setRule(IN_BODY_START, InBodyStartTag.IMAGE, $.IMAGE)
setRule(IN_BODY_START, InBodyStartTag.BUTTON, $.BUTTON)
setRule(IN_BODY_START, InBodyStartTag.APPLET, $.APPLET, $.OBJECT, $.MARQUEE)
setRule(IN_BODY_START, InBodyStartTag.IFRAME, $.IFRAME)
setRule(IN_BODY_START, InBodyStartTag.SELECT, $.SELECT)
setRule(IN_BODY_START, InBodyStartTag.OPTION, $.OPTION, $.OPTGROUP)
setRule(IN_BODY_START, InBodyStartTag.RAWTEXT, $.NOEMBED, $.NOFRAMES)
setRule(IN_BODY_START, InBodyStartTag.FRAMESET, $.FRAMESET)
setRule(IN_BODY_START, InBodyStartTag.TEXTAREA, $.TEXTAREA)
setRule(IN_BODY_START, InBodyStartTag.NOSCRIPT, $.NOSCRIPT)
setRule(IN_BODY_START, InBodyStartTag.PLAINTEXT, $.PLAINTEXT)
setRule(IN_BODY_START, InBodyStartTag.IGNORE, $.COL, $.TH, $.TD, $.TR, $.HEAD, $.FRAME, $.TBODY, $.TFOOT, $.THEAD, $.CAPTION, $.COLGROUP)

/** What an end tag does in the "in body" insertion mode, by tag ID. */
const enum InBodyEndTag {
  GENERIC,
  FORMATTING,
  P,
  BLOCK,
  LI,
  DD,
  HEADING,
  BR,
  BODY,
  HTML,
  FORM,
  APPLET,
  TEMPLATE,
  SELECT,
}
const IN_BODY_END = new Uint8Array(256)
setRule(IN_BODY_END, InBodyEndTag.FORMATTING, $.A, $.B, $.I, $.S, $.U, $.EM, $.TT, $.BIG, $.CODE, $.FONT, $.NOBR, $.SMALL, $.STRIKE, $.STRONG)
setRule(IN_BODY_END, InBodyEndTag.P, $.P)
setRule(
  IN_BODY_END,
  InBodyEndTag.BLOCK,
  $.DL,
  $.UL,
  $.OL,
  $.DIR,
  $.DIV,
  $.NAV,
  $.PRE,
  $.MAIN,
  $.MENU,
  $.ASIDE,
  $.BUTTON,
  $.CENTER,
  $.FIGURE,
  $.FOOTER,
  $.HEADER,
  $.HGROUP,
  $.DIALOG,
  $.ADDRESS,
  $.ARTICLE,
  $.DETAILS,
  $.SEARCH,
  $.SECTION,
  $.SUMMARY,
  $.LISTING,
  $.FIELDSET,
  $.BLOCKQUOTE,
  $.FIGCAPTION,
)
setRule(IN_BODY_END, InBodyEndTag.LI, $.LI)
setRule(IN_BODY_END, InBodyEndTag.DD, $.DD, $.DT)
setRule(IN_BODY_END, InBodyEndTag.HEADING, ...NUMBERED_HEADERS)
setRule(IN_BODY_END, InBodyEndTag.BR, $.BR)
setRule(IN_BODY_END, InBodyEndTag.BODY, $.BODY)
setRule(IN_BODY_END, InBodyEndTag.HTML, $.HTML)
setRule(IN_BODY_END, InBodyEndTag.FORM, $.FORM)
setRule(IN_BODY_END, InBodyEndTag.APPLET, $.APPLET, $.OBJECT, $.MARQUEE)
setRule(IN_BODY_END, InBodyEndTag.TEMPLATE, $.TEMPLATE)
setRule(IN_BODY_END, InBodyEndTag.SELECT, $.SELECT)

/** The model of the tree builder for one document, or for the content of one `<noscript>` (scripting off). */
export class TreeBuilder implements RunTokenHandler, StackHandler {
  tokenizer!: Tokenizer
  insertionMode = InsertionMode.INITIAL
  originalInsertionMode = InsertionMode.INITIAL
  readonly openElements = new OpenElementStack(this)
  readonly activeFormattingElements = new FormattingElementList()
  readonly templateInsertionModes: InsertionMode[] = []
  headElement: OpenElement | null = null
  formElement: OpenElement | null = null
  fosterParentingEnabled = false
  /** The pending table character tokens, and whether any is not whitespace. */
  pendingCharacterTokens: CharacterToken[] = []
  pendingHaveNonWhitespace = false
  skipNextNewLine = false
  /** The current node is not an HTML element (parse5's `currentNotInHTML`). */
  currentNotInHtml = false
  /** Where character tokens go while the current node collects text (a script, a style, a raw `<noscript>`). */
  textTarget: PendingReport | null = null
  documentMode = DocumentMode.NO_QUIRKS
  /** Whether the document runs scripts: a page does (unless it is a srcdoc in noscript content), noscript content never. */
  readonly scripting: boolean

  constructor(
    readonly record: PageRecord,
    /**
     * Whether this reads `<noscript>` content: parsed, as parse5 parses a fragment with a `<template>` context, with
     * scripting off. Otherwise it reads a whole document, with scripting on.
     */
    readonly fragment: boolean,
    /** Where what it reports sits: the page, template content, noscript content or a srcdoc document. */
    readonly context: Context,
    /** Where its input starts in the page. */
    readonly offsetBase: number,
    documentScripting = true,
  ) {
    this.scripting = !fragment && documentScripting
  }

  run(source: string): void {
    this.tokenizer = new RunTokenizer({ sourceCodeLocationInfo: true }, this)
    if (this.fragment) {
      // parse5's fragment parser with a <template> context: a fake <html> root, "in template" mode.
      this.templateInsertionModes.push(InsertionMode.IN_TEMPLATE)
      this.insertFakeRoot()
      this.resetInsertionMode()
    }
    this.tokenizer.write(source, true)
    // Elements still open at the end are in the tree as they are.
    const items = this.openElements.items
    for (let i = items.length - 1; i >= 0; i--) this.elementClosed(items[i]!)
  }

  notModelled(reason: string): never {
    throw new NotModelled(reason)
  }

  // ---- the stack of open elements tells what is current, and what closed

  onItemPush(): void {
    this.updateCurrent()
  }

  onItemPop(element: OpenElement, wasCurrent: boolean): void {
    if (wasCurrent) this.updateCurrent()
    this.elementClosed(element)
  }

  /** The current node changed: whether it is foreign content, and where its text goes. */
  updateCurrent(): void {
    const items = this.openElements.items
    const current = items[items.length - 1]
    if (current === undefined) {
      this.currentNotInHtml = false
      this.tokenizer.inForeignNode = false
      this.textTarget = null
      return
    }
    const foreign = current.namespace !== HTML_NS
    this.currentNotInHtml = foreign
    this.tokenizer.inForeignNode = foreign && current.integrationPoint === 0
    const report = current.report
    this.textTarget = report !== null && report.kind !== 'template' ? report : null
  }

  /** An element left the stack, or was never pushed (a void element): what it reports is complete. */
  elementClosed(element: OpenElement): void {
    const report = element.report
    if (report === null) return
    element.report = null
    if (report.kind !== 'noscript') return this.record.elementClosed(report, this.offsetBase)
    if (report.start === -1) return
    // <noscript> content as a browser with scripting off parses it: scanHtml parses the raw source slice.
    const start = report.start + this.offsetBase
    const end = report.end + this.offsetBase
    new TreeBuilder(this.record, true, report.context === 'document' ? 'noscript' : report.context, start).run(this.record.html.slice(start, end))
  }

  // ---- inserting elements (where scanHtml would see them)

  /** Foster parenting moves an element out of a table, out of tree order: the model does not follow it. */
  checkFosterParenting(): void {
    if (this.fosterParentingEnabled && TABLE_STRUCTURE[this.openElements.current().tagID]) this.notModelled('foster parenting (content misplaced in a table)')
  }

  /** Creates an element for the token, and reports it: it is about to be appended to the current node. */
  createElement(token: TagToken, namespace: number): OpenElement {
    const element = new OpenElement(token.tagID, namespace, token.tagName, namespace === HTML_NS ? 0 : integrationPoint(token.tagID, namespace, token.attrs))
    const record = this.record
    const items = this.openElements.items
    const head = this.headElement
    const openTemplate = this.openElements.templateCount > 0
    if (!this.fragment && record.firstInHead === undefined && head !== null && items[items.length - 1] === head)
      record.firstInHead = token.location!.startOffset + this.offsetBase
    const context: Context = openTemplate && this.context === 'document' ? 'template' : this.context
    record.elementInserted(element, token, context, this.scripting, this.offsetBase, head !== null && head.open)
    return element
  }

  insertElement(token: TagToken, namespace: number): void {
    this.checkFosterParenting()
    this.openElements.push(this.createElement(token, namespace))
  }

  /** Inserts an element that is closed at once (a void element, a self-closing foreign one). */
  appendElement(token: TagToken, namespace: number): void {
    this.checkFosterParenting()
    this.elementClosed(this.createElement(token, namespace))
  }

  /** Inserts an element implied by the tree construction rules: no start tag, nothing to report. */
  insertFakeElement(tagID: number, tagName: string): void {
    this.checkFosterParenting()
    this.openElements.push(new OpenElement(tagID, HTML_NS, tagName, 0))
  }

  insertFakeRoot(): void {
    this.openElements.push(new OpenElement($.HTML, HTML_NS, 'html', 0))
  }

  switchToTextParsing(token: TagToken, state: number): void {
    this.insertElement(token, HTML_NS)
    this.tokenizer.state = state as Tokenizer['state']
    this.originalInsertionMode = this.insertionMode
    this.insertionMode = InsertionMode.TEXT
  }

  /** "Reconstruct the active formatting elements": reopens those a block closed, as clones of their start tags. */
  reconstructActiveFormattingElements(): void {
    const entries = this.activeFormattingElements.entries
    const n = entries.length
    if (n === 0) return
    const last = entries[n - 1]
    if (last === null || last!.element.open) return
    let i = n - 1
    while (i > 0) {
      const previous = entries[i - 1]
      if (previous === null || previous!.element.open) break
      i--
    }
    for (; i < n; i++) {
      const entry = entries[i]!
      // A clone of the formatting element, from the same token: scanHtml sees its attributes again.
      this.insertElement(entry.token, entry.element.namespace)
      entry.element.formattingEntry = null
      entry.element = this.openElements.current()
      entry.element.formattingEntry = entry
    }
  }

  closePElement(): void {
    this.openElements.generateImpliedEndTagsWithExclusion($.P)
    this.openElements.popUntilTagNamePopped($.P)
  }

  // ---- tokens

  /** Whitespace after text is handled as that text is here (see onCharacter and onWhitespaceCharacter): one token will do. */
  joinsWhitespace(): boolean {
    if (this.textTarget !== null || this.tokenizer.inForeignNode) return true
    const mode = this.insertionMode
    return (
      mode === InsertionMode.IN_BODY ||
      mode === InsertionMode.IN_CAPTION ||
      mode === InsertionMode.IN_CELL ||
      mode === InsertionMode.IN_TEMPLATE ||
      mode === InsertionMode.TEXT
    )
  }

  onCharacter(token: CharacterToken): void {
    this.skipNextNewLine = false
    const target = this.textTarget
    if (target !== null) return this.collect(target, token, false)
    if (this.tokenizer.inForeignNode) return
    switch (this.insertionMode) {
      case InsertionMode.IN_BODY:
      case InsertionMode.IN_CAPTION:
      case InsertionMode.IN_CELL:
      case InsertionMode.IN_TEMPLATE:
        if (this.activeFormattingElements.entries.length !== 0) this.reconstructActiveFormattingElements()
        return
      case InsertionMode.TEXT:
        return
      case InsertionMode.IN_TABLE_TEXT:
        this.pendingCharacterTokens.push(token)
        this.pendingHaveNonWhitespace = true
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
    const target = this.textTarget
    if (target !== null) return this.collect(target, token, false)
    if (this.tokenizer.inForeignNode) return
    switch (this.insertionMode) {
      case InsertionMode.IN_BODY:
      case InsertionMode.IN_CAPTION:
      case InsertionMode.IN_CELL:
      case InsertionMode.IN_TEMPLATE:
      case InsertionMode.AFTER_BODY:
      case InsertionMode.AFTER_AFTER_BODY:
        if (this.activeFormattingElements.entries.length !== 0) this.reconstructActiveFormattingElements()
        return
      case InsertionMode.IN_TABLE:
      case InsertionMode.IN_TABLE_BODY:
      case InsertionMode.IN_ROW:
        return this.characterInTable(token)
      case InsertionMode.IN_TABLE_TEXT:
        this.pendingCharacterTokens.push(token)
        return
      case InsertionMode.AFTER_AFTER_FRAMESET:
        return this.notModelled('a frameset document')
      default:
        // Inserted as text, or ignored.
        return
    }
  }

  onNullCharacter(token: CharacterToken): void {
    // Outside foreign content the NUL is dropped as scanHtml's BrowserParser drops it.
    if (!this.tokenizer.inForeignNode) return
    this.skipNextNewLine = false
    const target = this.textTarget
    if (target !== null) this.collect(target, token, true)
  }

  /** Text of the current script or style, or the range of a raw `<noscript>`. */
  collect(target: PendingReport, token: CharacterToken, nul: boolean): void {
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
    if (this.insertionMode <= InsertionMode.AFTER_HEAD) return this.tokenBeforeBody(token)
    switch (this.insertionMode) {
      case InsertionMode.IN_TABLE:
      case InsertionMode.IN_TABLE_BODY:
      case InsertionMode.IN_ROW:
        return this.characterInTable(token)
      case InsertionMode.IN_COLUMN_GROUP:
        return this.tokenInColumnGroup(token)
      case InsertionMode.AFTER_BODY:
        return this.tokenAfterBody(token)
      case InsertionMode.AFTER_AFTER_BODY:
        return this.tokenAfterAfterBody(token)
      case InsertionMode.IN_FRAMESET:
      case InsertionMode.AFTER_FRAMESET:
      case InsertionMode.AFTER_AFTER_FRAMESET:
        return this.notModelled(`insertion mode ${this.insertionMode}`)
    }
  }

  /** The "anything else" steps of the modes before the body: the token moves the builder on, into a later mode. */
  tokenBeforeBody(token: AnyToken): void {
    switch (this.insertionMode) {
      case InsertionMode.INITIAL:
        return this.tokenInInitialMode(token)
      case InsertionMode.BEFORE_HTML:
        return this.tokenBeforeHtml(token)
      case InsertionMode.BEFORE_HEAD:
        return this.tokenBeforeHead(token)
      case InsertionMode.IN_HEAD:
        return this.tokenInHead(token)
      case InsertionMode.AFTER_HEAD:
        return this.tokenAfterHead(token)
      default:
        return this.notModelled(`insertion mode ${this.insertionMode}`)
    }
  }

  onComment(token: Token.CommentToken): void {
    this.skipNextNewLine = false
    if (!this.currentNotInHtml && this.insertionMode === InsertionMode.IN_TABLE_TEXT) this.tokenInTableText(token)
  }

  onDoctype(token: Token.DoctypeToken): void {
    this.skipNextNewLine = false
    if (this.insertionMode === InsertionMode.INITIAL) {
      if (!this.fragment) this.record.doctypeEnd = token.location!.endOffset
      this.documentMode = documentModeOf(token)
      this.insertionMode = InsertionMode.BEFORE_HTML
    } else if (this.insertionMode === InsertionMode.IN_TABLE_TEXT) {
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
    if (this.currentNotInHtml) this.endTagInForeignContent(token)
    else this.endTagOutsideForeignContent(token)
  }

  onEof(token: Token.EOFToken): void {
    if (this.insertionMode <= InsertionMode.AFTER_HEAD) return this.tokenBeforeBody(token)
    switch (this.insertionMode) {
      case InsertionMode.IN_BODY:
      case InsertionMode.IN_TABLE:
      case InsertionMode.IN_CAPTION:
      case InsertionMode.IN_COLUMN_GROUP:
      case InsertionMode.IN_TABLE_BODY:
      case InsertionMode.IN_ROW:
      case InsertionMode.IN_CELL:
        return this.eofInBody(token)
      case InsertionMode.TEXT:
        this.openElements.pop()
        this.insertionMode = this.originalInsertionMode
        return this.onEof(token)
      case InsertionMode.IN_TABLE_TEXT:
        return this.tokenInTableText(token)
      case InsertionMode.IN_TEMPLATE:
        return this.eofInTemplate(token)
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
    if (!this.currentNotInHtml) return false
    const current = this.openElements.current()
    if (token.tagID === $.SVG && current.tagID === $.ANNOTATION_XML && current.namespace === MATHML_NS) return false
    return this.tokenizer.inForeignNode || ((token.tagID === $.MGLYPH || token.tagID === $.MALIGNMARK) && current.integrationPoint !== HTML_INTEGRATION_POINT)
  }

  popUntilHtmlOrIntegrationPoint(): void {
    for (let current = this.openElements.current(); current.namespace !== HTML_NS && current.integrationPoint === 0; current = this.openElements.current())
      this.openElements.pop()
  }

  startTagInForeignContent(token: TagToken): void {
    if (foreignContent.causesExit(token)) {
      this.popUntilHtmlOrIntegrationPoint()
      return this.startTagOutsideForeignContent(token)
    }
    const namespace = this.openElements.current().namespace
    if (namespace === MATHML_NS) foreignContent.adjustTokenMathMLAttrs(token)
    else if (namespace === SVG_NS) {
      foreignContent.adjustTokenSVGTagName(token)
      foreignContent.adjustTokenSVGAttrs(token)
    }
    foreignContent.adjustTokenXMLAttrs(token)
    if (token.selfClosing) this.appendElement(token, namespace)
    else this.insertElement(token, namespace)
  }

  endTagInForeignContent(token: TagToken): void {
    if (token.tagID === $.P || token.tagID === $.BR) {
      this.popUntilHtmlOrIntegrationPoint()
      return this.endTagOutsideForeignContent(token)
    }
    const items = this.openElements.items
    if (items.length === 1) return
    // The topmost foreign element with the tag's name (an SVG one also by its adjusted name: </clippath>).
    const name = token.tagName
    const adjusted = foreignContent.SVG_TAG_NAMES_ADJUSTMENT_MAP.get(name)
    let i = items.length - 1
    for (; i >= 0; i--) {
      const element = items[i]!
      if (
        element.namespace === MATHML_NS ? element.tagName === name : element.namespace === SVG_NS && (element.tagName === name || element.tagName === adjusted)
      )
        break
    }
    if (i > this.openElements.indexOfTopmostHtmlElement()) this.openElements.shortenToLength(i)
    else this.endTagOutsideForeignContent(token)
  }

  // ---- dispatch by insertion mode

  startTagOutsideForeignContent(token: TagToken): void {
    switch (this.insertionMode) {
      case InsertionMode.INITIAL:
        return this.tokenInInitialMode(token)
      case InsertionMode.BEFORE_HTML:
        if (token.tagID === $.HTML) {
          this.insertElement(token, HTML_NS)
          if (!this.fragment) this.record.htmlTagEnd = token.location!.endOffset + this.offsetBase
          this.insertionMode = InsertionMode.BEFORE_HEAD
          return
        }
        return this.tokenBeforeHtml(token)
      case InsertionMode.BEFORE_HEAD:
        if (token.tagID === $.HTML) return this.startTagInBody(token)
        if (token.tagID === $.HEAD) {
          this.insertElement(token, HTML_NS)
          this.headElement = this.openElements.current()
          if (!this.fragment) this.record.headTagEnd = token.location!.endOffset + this.offsetBase
          this.insertionMode = InsertionMode.IN_HEAD
          return
        }
        return this.tokenBeforeHead(token)
      case InsertionMode.IN_HEAD:
        return this.startTagInHead(token)
      case InsertionMode.AFTER_HEAD:
        return this.startTagAfterHead(token)
      case InsertionMode.IN_BODY:
        return this.startTagInBody(token)
      case InsertionMode.IN_TABLE:
        return this.startTagInTable(token)
      case InsertionMode.IN_TABLE_TEXT:
        return this.tokenInTableText(token)
      case InsertionMode.IN_CAPTION:
        return this.startTagInCaption(token)
      case InsertionMode.IN_COLUMN_GROUP:
        return this.startTagInColumnGroup(token)
      case InsertionMode.IN_TABLE_BODY:
        return this.startTagInTableBody(token)
      case InsertionMode.IN_ROW:
        return this.startTagInRow(token)
      case InsertionMode.IN_CELL:
        return this.startTagInCell(token)
      case InsertionMode.IN_TEMPLATE:
        return this.startTagInTemplate(token)
      case InsertionMode.AFTER_BODY:
        if (token.tagID === $.HTML) return this.startTagInBody(token)
        return this.tokenAfterBody(token)
      case InsertionMode.AFTER_AFTER_BODY:
        if (token.tagID === $.HTML) return this.startTagInBody(token)
        return this.tokenAfterAfterBody(token)
      default:
        // TEXT never sees a start tag; the head-noscript and frameset modes are not modelled.
        return this.notModelled(`insertion mode ${this.insertionMode}`)
    }
  }

  endTagOutsideForeignContent(token: TagToken): void {
    const tagID = token.tagID
    switch (this.insertionMode) {
      case InsertionMode.INITIAL:
        return this.tokenInInitialMode(token)
      case InsertionMode.BEFORE_HTML:
        if (tagID === $.HTML || tagID === $.HEAD || tagID === $.BODY || tagID === $.BR) this.tokenBeforeHtml(token)
        return
      case InsertionMode.BEFORE_HEAD:
        if (tagID === $.HEAD || tagID === $.BODY || tagID === $.HTML || tagID === $.BR) this.tokenBeforeHead(token)
        return
      case InsertionMode.IN_HEAD:
        if (tagID === $.HEAD) {
          this.openElements.pop()
          this.insertionMode = InsertionMode.AFTER_HEAD
        } else if (tagID === $.BODY || tagID === $.BR || tagID === $.HTML) this.tokenInHead(token)
        else if (tagID === $.TEMPLATE) this.templateEndTag()
        return
      case InsertionMode.AFTER_HEAD:
        if (tagID === $.BODY || tagID === $.HTML || tagID === $.BR) this.tokenAfterHead(token)
        else if (tagID === $.TEMPLATE) this.templateEndTag()
        return
      case InsertionMode.IN_BODY:
        return this.endTagInBody(token)
      case InsertionMode.TEXT:
        this.openElements.pop()
        this.insertionMode = this.originalInsertionMode
        return
      case InsertionMode.IN_TABLE:
        return this.endTagInTable(token)
      case InsertionMode.IN_TABLE_TEXT:
        return this.tokenInTableText(token)
      case InsertionMode.IN_CAPTION:
        return this.endTagInCaption(token)
      case InsertionMode.IN_COLUMN_GROUP:
        if (tagID === $.COLGROUP) {
          if (this.openElements.current().tagID === $.COLGROUP) {
            this.openElements.pop()
            this.insertionMode = InsertionMode.IN_TABLE
          }
        } else if (tagID === $.TEMPLATE) this.templateEndTag()
        else if (tagID !== $.COL) this.tokenInColumnGroup(token)
        return
      case InsertionMode.IN_TABLE_BODY:
        return this.endTagInTableBody(token)
      case InsertionMode.IN_ROW:
        return this.endTagInRow(token)
      case InsertionMode.IN_CELL:
        return this.endTagInCell(token)
      case InsertionMode.IN_TEMPLATE:
        if (tagID === $.TEMPLATE) this.templateEndTag()
        return
      case InsertionMode.AFTER_BODY:
        if (tagID === $.HTML) {
          if (!this.fragment) this.insertionMode = InsertionMode.AFTER_AFTER_BODY
          return
        }
        return this.tokenAfterBody(token)
      case InsertionMode.AFTER_AFTER_BODY:
        return this.tokenAfterAfterBody(token)
      default:
        return this.notModelled(`insertion mode ${this.insertionMode}`)
    }
  }

  // ---- initial, before html, before head, in head, after head

  tokenInInitialMode(token: AnyToken): void {
    this.documentMode = DocumentMode.QUIRKS
    this.insertionMode = InsertionMode.BEFORE_HTML
    this.processToken(token)
  }

  tokenBeforeHtml(token: AnyToken): void {
    this.insertFakeRoot()
    this.insertionMode = InsertionMode.BEFORE_HEAD
    this.processToken(token)
  }

  tokenBeforeHead(token: AnyToken): void {
    this.insertFakeElement($.HEAD, 'head')
    this.headElement = this.openElements.current()
    this.insertionMode = InsertionMode.IN_HEAD
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
        if (this.fragment) this.notModelled('noscript in head with scripting off')
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case $.NOFRAMES:
      case $.STYLE:
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case $.SCRIPT:
        return this.switchToTextParsing(token, TokenizerMode.SCRIPT_DATA)
      case $.TEMPLATE:
        this.insertElement(token, HTML_NS)
        this.activeFormattingElements.insertMarker()
        this.insertionMode = InsertionMode.IN_TEMPLATE
        this.templateInsertionModes.push(InsertionMode.IN_TEMPLATE)
        return
      case $.HEAD:
        return
      default:
        return this.tokenInHead(token)
    }
  }

  templateEndTag(): void {
    if (this.openElements.templateCount > 0) {
      this.openElements.generateImpliedEndTagsThoroughly()
      this.openElements.popUntilTagNamePopped($.TEMPLATE)
      this.activeFormattingElements.clearToLastMarker()
      this.templateInsertionModes.pop()
      this.resetInsertionMode()
    }
  }

  tokenInHead(token: AnyToken): void {
    this.openElements.pop()
    this.insertionMode = InsertionMode.AFTER_HEAD
    this.processToken(token)
  }

  startTagAfterHead(token: TagToken): void {
    const tagID = token.tagID
    if (tagID === $.HTML) return this.startTagInBody(token)
    if (tagID === $.BODY) {
      this.insertElement(token, HTML_NS)
      this.insertionMode = InsertionMode.IN_BODY
      return
    }
    if (tagID === $.FRAMESET) return this.notModelled('a frameset document')
    if (HEAD_CONTENT_AFTER_HEAD[tagID]) {
      // Head content after </head> still goes into <head>.
      const head = this.headElement!
      this.openElements.push(head)
      this.startTagInHead(token)
      this.openElements.remove(head)
      return
    }
    if (tagID === $.HEAD) return
    this.tokenAfterHead(token)
  }

  tokenAfterHead(token: AnyToken): void {
    this.insertFakeElement($.BODY, 'body')
    this.insertionMode = InsertionMode.IN_BODY
    this.modeInBody(token)
  }

  // ---- in body

  modeInBody(token: AnyToken): void {
    switch (token.type) {
      case TT.CHARACTER:
      case TT.WHITESPACE_CHARACTER:
        if (this.activeFormattingElements.entries.length !== 0) this.reconstructActiveFormattingElements()
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
    switch (IN_BODY_START[token.tagID] as InBodyStartTag) {
      case InBodyStartTag.FORMATTING:
        this.reconstructActiveFormattingElements()
        this.insertElement(token, HTML_NS)
        return this.activeFormattingElements.pushElement(this.openElements.current(), token)
      case InBodyStartTag.A: {
        const active = this.activeFormattingElements.getElementEntryInScopeWithTagName('a')
        if (active) {
          this.callAdoptionAgency(token)
          this.openElements.remove(active.element)
          this.activeFormattingElements.removeEntry(active)
        }
        this.reconstructActiveFormattingElements()
        this.insertElement(token, HTML_NS)
        return this.activeFormattingElements.pushElement(this.openElements.current(), token)
      }
      case InBodyStartTag.HEADING:
        if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
        if (NUMBERED_HEADERS.includes(this.openElements.current().tagID)) this.openElements.pop()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.BLOCK:
        if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.LIST_ITEM: {
        const idx =
          token.tagID === $.LI
            ? this.openElements.indexOfTopmost($.LI)
            : Math.max(this.openElements.indexOfTopmost($.DD), this.openElements.indexOfTopmost($.DT))
        if (idx !== -1 && !this.openElements.hasAbove(idx, LIST_ITEM_BOUNDARY)) {
          const tagID = this.openElements.items[idx]!.tagID
          this.openElements.generateImpliedEndTagsWithExclusion(tagID)
          this.openElements.popUntilTagNamePopped(tagID)
        }
        if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
        return this.insertElement(token, HTML_NS)
      }
      case InBodyStartTag.VOID:
        this.reconstructActiveFormattingElements()
        return this.appendElement(token, HTML_NS)
      case InBodyStartTag.HR:
        if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
        if (this.openElements.hasSelectInScope()) this.openElements.generateImpliedEndTags()
        return this.appendElement(token, HTML_NS)
      case InBodyStartTag.RB:
        if (this.openElements.hasInScope($.RUBY, SCOPE)) this.openElements.generateImpliedEndTags()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.RT:
        if (this.openElements.hasInScope($.RUBY, SCOPE)) this.openElements.generateImpliedEndTagsWithExclusion($.RTC)
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.PRE:
        if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
        this.insertElement(token, HTML_NS)
        this.skipNextNewLine = true
        return
      case InBodyStartTag.XMP:
        if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
        this.reconstructActiveFormattingElements()
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case InBodyStartTag.SVG:
        this.reconstructActiveFormattingElements()
        foreignContent.adjustTokenSVGAttrs(token)
        foreignContent.adjustTokenXMLAttrs(token)
        if (token.selfClosing) return this.appendElement(token, SVG_NS)
        return this.insertElement(token, SVG_NS)
      case InBodyStartTag.HTML:
        // A second <html> tag adds its attributes to the root, which scanHtml then reports without offsets.
        if (this.openElements.templateCount === 0 && token.attrs.length > 0 && !this.fragment) this.notModelled('attributes merged into <html>')
        return
      case InBodyStartTag.HEAD_CONTENT:
        return this.startTagInHead(token)
      case InBodyStartTag.BODY: {
        const body = this.openElements.items.length > 1 && this.openElements.items[1]!.tagID === $.BODY ? this.openElements.items[1] : undefined
        if (body && this.openElements.templateCount === 0 && token.attrs.length > 0) this.notModelled('attributes merged into <body>')
        return
      }
      case InBodyStartTag.FORM: {
        const inTemplate = this.openElements.templateCount > 0
        if (!this.formElement || inTemplate) {
          if (this.openElements.hasParagraphInButtonScope()) this.closePElement()
          this.insertElement(token, HTML_NS)
          if (!inTemplate) this.formElement = this.openElements.current()
        }
        return
      }
      case InBodyStartTag.NOBR:
        this.reconstructActiveFormattingElements()
        if (this.openElements.hasInScope($.NOBR, SCOPE)) {
          this.callAdoptionAgency(token)
          this.reconstructActiveFormattingElements()
        }
        this.insertElement(token, HTML_NS)
        return this.activeFormattingElements.pushElement(this.openElements.current(), token)
      case InBodyStartTag.MATH:
        this.reconstructActiveFormattingElements()
        foreignContent.adjustTokenMathMLAttrs(token)
        foreignContent.adjustTokenXMLAttrs(token)
        if (token.selfClosing) return this.appendElement(token, MATHML_NS)
        return this.insertElement(token, MATHML_NS)
      case InBodyStartTag.TABLE:
        if (this.documentMode !== DocumentMode.QUIRKS && this.openElements.hasParagraphInButtonScope()) {
          if (this.documentMode === DocumentMode.NOT_COMPUTED) this.notModelled('<table> in <p> under a doctype with a public id')
          this.closePElement()
        }
        this.insertElement(token, HTML_NS)
        this.insertionMode = InsertionMode.IN_TABLE
        return
      case InBodyStartTag.INPUT:
        if (this.openElements.hasSelectInScope()) this.openElements.popUntilTagNamePopped($.SELECT)
        this.reconstructActiveFormattingElements()
        return this.appendElement(token, HTML_NS)
      case InBodyStartTag.PARAM:
        return this.appendElement(token, HTML_NS)
      case InBodyStartTag.IMAGE:
        token.tagName = 'img'
        token.tagID = $.IMG
        this.reconstructActiveFormattingElements()
        return this.appendElement(token, HTML_NS)
      case InBodyStartTag.BUTTON:
        if (this.openElements.hasInScope($.BUTTON, SCOPE)) {
          this.openElements.generateImpliedEndTags()
          this.openElements.popUntilTagNamePopped($.BUTTON)
        }
        this.reconstructActiveFormattingElements()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.APPLET:
        this.reconstructActiveFormattingElements()
        this.insertElement(token, HTML_NS)
        this.activeFormattingElements.insertMarker()
        return
      case InBodyStartTag.IFRAME:
      case InBodyStartTag.RAWTEXT:
        return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
      case InBodyStartTag.SELECT:
        // Select content is parsed in body (no select modes); a select inside a select is ignored and closes it.
        if (this.openElements.hasSelectInScope()) return this.openElements.popUntilTagNamePopped($.SELECT)
        this.reconstructActiveFormattingElements()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.OPTION:
        if (this.openElements.hasSelectInScope()) {
          if (token.tagID === $.OPTION) this.openElements.generateImpliedEndTagsExcept($.OPTGROUP)
          else this.openElements.generateImpliedEndTags()
        } else if (this.openElements.current().tagID === $.OPTION) this.openElements.pop()
        this.reconstructActiveFormattingElements()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.FRAMESET:
        return this.notModelled('a frameset document')
      case InBodyStartTag.TEXTAREA:
        this.insertElement(token, HTML_NS)
        this.skipNextNewLine = true
        this.tokenizer.state = TokenizerMode.RCDATA as Tokenizer['state']
        this.originalInsertionMode = this.insertionMode
        this.insertionMode = InsertionMode.TEXT
        return
      case InBodyStartTag.NOSCRIPT:
        if (!this.fragment) return this.switchToTextParsing(token, TokenizerMode.RAWTEXT)
        this.reconstructActiveFormattingElements()
        return this.insertElement(token, HTML_NS)
      case InBodyStartTag.PLAINTEXT:
        return this.notModelled('a <plaintext> element')
      case InBodyStartTag.IGNORE:
        return
      default:
        this.reconstructActiveFormattingElements()
        return this.insertElement(token, HTML_NS)
    }
  }

  endTagInBody(token: TagToken): void {
    const tagID = token.tagID
    switch (IN_BODY_END[tagID] as InBodyEndTag) {
      case InBodyEndTag.FORMATTING:
        return this.callAdoptionAgency(token)
      case InBodyEndTag.P:
        if (!this.openElements.hasParagraphInButtonScope()) this.insertFakeElement($.P, 'p')
        return this.closePElement()
      case InBodyEndTag.BLOCK:
        // The usual case: it closes the current node.
        if (this.openElements.current().key === tagID) return this.openElements.pop()
        if (this.openElements.hasInScope(tagID, SCOPE)) {
          this.openElements.generateImpliedEndTags()
          this.openElements.popUntilTagNamePopped(tagID)
        }
        return
      case InBodyEndTag.LI:
        if (this.openElements.hasInScope($.LI, LIST_ITEM_SCOPE)) {
          this.openElements.generateImpliedEndTagsWithExclusion($.LI)
          this.openElements.popUntilTagNamePopped($.LI)
        }
        return
      case InBodyEndTag.DD:
        if (this.openElements.hasInScope(tagID, SCOPE)) {
          this.openElements.generateImpliedEndTagsWithExclusion(tagID)
          this.openElements.popUntilTagNamePopped(tagID)
        }
        return
      case InBodyEndTag.HEADING:
        if (this.openElements.hasAnyInScope(NUMBERED_HEADERS, SCOPE)) {
          this.openElements.generateImpliedEndTags()
          this.openElements.shortenToLength(Math.max(this.openElements.indexOfTopmostOf(NUMBERED_HEADERS), 0))
        }
        return
      case InBodyEndTag.BR:
        this.reconstructActiveFormattingElements()
        this.insertFakeElement($.BR, 'br')
        return this.openElements.pop()
      case InBodyEndTag.BODY:
        if (this.openElements.hasInScope($.BODY, SCOPE)) this.insertionMode = InsertionMode.AFTER_BODY
        return
      case InBodyEndTag.HTML:
        if (this.openElements.hasInScope($.BODY, SCOPE)) {
          this.insertionMode = InsertionMode.AFTER_BODY
          if (!this.fragment) this.insertionMode = InsertionMode.AFTER_AFTER_BODY
        }
        return
      case InBodyEndTag.FORM: {
        const inTemplate = this.openElements.templateCount > 0
        const form = this.formElement
        if (!inTemplate) this.formElement = null
        if ((form || inTemplate) && this.openElements.hasInScope($.FORM, SCOPE)) {
          this.openElements.generateImpliedEndTags()
          if (inTemplate) this.openElements.popUntilTagNamePopped($.FORM)
          else if (form) this.openElements.remove(form)
        }
        return
      }
      case InBodyEndTag.APPLET:
        if (this.openElements.hasInScope(tagID, SCOPE)) {
          this.openElements.generateImpliedEndTags()
          this.openElements.popUntilTagNamePopped(tagID)
          this.activeFormattingElements.clearToLastMarker()
        }
        return
      case InBodyEndTag.TEMPLATE:
        return this.templateEndTag()
      case InBodyEndTag.SELECT:
        if (this.openElements.hasSelectInScope()) this.openElements.popUntilTagNamePopped($.SELECT)
        return
      default:
        return this.genericEndTagInBody(token)
    }
  }

  genericEndTagInBody(token: TagToken): void {
    const tagID = token.tagID
    const current = this.openElements.current()
    // The usual case: it closes the current node (nothing above it, so no implied end tags either).
    if (
      this.openElements.items.length > 1 &&
      (tagID === $.UNKNOWN ? current.namespace === HTML_NS && current.tagName === token.tagName : current.key === tagID)
    )
      return this.openElements.pop()
    const i = tagID === $.UNKNOWN ? this.openElements.indexOfTopmostByName(token.tagName) : this.openElements.indexOfTopmost(tagID)
    if (i > 0 && !this.openElements.hasAbove(i, SPECIAL)) {
      this.openElements.generateImpliedEndTagsWithExclusion(tagID)
      if (this.openElements.items.length - 1 >= i) this.openElements.shortenToLength(i)
    }
  }

  /** The adoption agency, when it only closes elements; with a furthest block it moves and clones elements. */
  callAdoptionAgency(token: TagToken): void {
    const current = this.openElements.current()
    if (current.tagID === token.tagID && current.namespace === HTML_NS && current.formattingEntry === null) {
      this.openElements.pop()
      return
    }
    let entry = this.activeFormattingElements.getElementEntryInScopeWithTagName(token.tagName)
    if (entry) {
      if (!entry.element.open) {
        this.activeFormattingElements.removeEntry(entry)
        entry = undefined
      } else if (!this.openElements.hasInScope(token.tagID, SCOPE, entry.element)) entry = undefined
    } else this.genericEndTagInBody(token)
    if (!entry) return
    const idx = this.openElements.items.lastIndexOf(entry.element)
    if (this.openElements.hasAbove(idx, SPECIAL)) this.notModelled('the adoption agency moving elements (formatting elements misnested around a block)')
    this.openElements.shortenToLength(idx)
    this.activeFormattingElements.removeEntry(entry)
  }

  eofInBody(token: AnyToken): void {
    if (this.templateInsertionModes.length > 0) this.eofInTemplate(token)
  }

  eofInTemplate(token: AnyToken): void {
    if (this.openElements.templateCount > 0) {
      do {
        this.openElements.popUntilTagNamePopped($.TEMPLATE)
        this.activeFormattingElements.clearToLastMarker()
        this.templateInsertionModes.pop()
      } while (this.openElements.templateCount > 0)
      this.resetInsertionMode()
      this.onEof(token as Token.EOFToken)
    }
  }

  // ---- tables

  characterInTable(token: CharacterToken): void {
    if (TABLE_STRUCTURE[this.openElements.current().tagID]) {
      this.pendingCharacterTokens = []
      this.pendingHaveNonWhitespace = false
      this.originalInsertionMode = this.insertionMode
      this.insertionMode = InsertionMode.IN_TABLE_TEXT
      if (token.type === TT.CHARACTER) {
        this.pendingCharacterTokens.push(token)
        this.pendingHaveNonWhitespace = true
      } else if (token.type === TT.WHITESPACE_CHARACTER) this.pendingCharacterTokens.push(token)
    } else this.tokenInTable(token)
  }

  tokenInTable(token: AnyToken): void {
    const saved = this.fosterParentingEnabled
    this.fosterParentingEnabled = true
    this.modeInBody(token)
    this.fosterParentingEnabled = saved
  }

  tokenInTableText(token: AnyToken): void {
    if (this.pendingHaveNonWhitespace) for (const pending of this.pendingCharacterTokens) this.tokenInTable(pending)
    this.insertionMode = this.originalInsertionMode
    this.processToken(token)
  }

  startTagInTable(token: TagToken): void {
    switch (token.tagID) {
      case $.TD:
      case $.TH:
      case $.TR:
        this.openElements.clearBackTo(TABLE_CONTEXT)
        this.insertFakeElement($.TBODY, 'tbody')
        this.insertionMode = InsertionMode.IN_TABLE_BODY
        return this.startTagInTableBody(token)
      case $.STYLE:
      case $.SCRIPT:
      case $.TEMPLATE:
        return this.startTagInHead(token)
      case $.COL:
        this.openElements.clearBackTo(TABLE_CONTEXT)
        this.insertFakeElement($.COLGROUP, 'colgroup')
        this.insertionMode = InsertionMode.IN_COLUMN_GROUP
        return this.startTagInColumnGroup(token)
      case $.FORM:
        if (!this.formElement && this.openElements.templateCount === 0) {
          this.insertElement(token, HTML_NS)
          this.formElement = this.openElements.current()
          this.openElements.pop()
        }
        return
      case $.TABLE:
        if (this.openElements.hasInScope($.TABLE, TABLE_SCOPE)) {
          this.openElements.popUntilTagNamePopped($.TABLE)
          this.resetInsertionMode()
          this.processStartTag(token)
        }
        return
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        this.openElements.clearBackTo(TABLE_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.insertionMode = InsertionMode.IN_TABLE_BODY
        return
      case $.INPUT:
        if (isHiddenInput(token)) return this.appendElement(token, HTML_NS)
        return this.tokenInTable(token)
      case $.CAPTION:
        this.openElements.clearBackTo(TABLE_CONTEXT)
        this.activeFormattingElements.insertMarker()
        this.insertElement(token, HTML_NS)
        this.insertionMode = InsertionMode.IN_CAPTION
        return
      case $.COLGROUP:
        this.openElements.clearBackTo(TABLE_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.insertionMode = InsertionMode.IN_COLUMN_GROUP
        return
      default:
        return this.tokenInTable(token)
    }
  }

  endTagInTable(token: TagToken): void {
    if (IGNORED_END_TAGS_IN_TABLE[token.tagID]) return
    switch (token.tagID) {
      case $.TABLE:
        if (this.openElements.hasInScope($.TABLE, TABLE_SCOPE)) {
          this.openElements.popUntilTagNamePopped($.TABLE)
          this.resetInsertionMode()
        }
        return
      case $.TEMPLATE:
        return this.templateEndTag()
      default:
        return this.tokenInTable(token)
    }
  }

  startTagInCaption(token: TagToken): void {
    if (TABLE_VOID[token.tagID]) {
      if (this.openElements.hasInScope($.CAPTION, TABLE_SCOPE)) {
        this.openElements.generateImpliedEndTags()
        this.openElements.popUntilTagNamePopped($.CAPTION)
        this.activeFormattingElements.clearToLastMarker()
        this.insertionMode = InsertionMode.IN_TABLE
        this.startTagInTable(token)
      }
    } else this.startTagInBody(token)
  }

  endTagInCaption(token: TagToken): void {
    if (IGNORED_END_TAGS_IN_CAPTION[token.tagID]) return
    const tagID = token.tagID
    switch (tagID) {
      case $.CAPTION:
      case $.TABLE:
        if (this.openElements.hasInScope($.CAPTION, TABLE_SCOPE)) {
          this.openElements.generateImpliedEndTags()
          this.openElements.popUntilTagNamePopped($.CAPTION)
          this.activeFormattingElements.clearToLastMarker()
          this.insertionMode = InsertionMode.IN_TABLE
          if (tagID === $.TABLE) this.endTagInTable(token)
        }
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
    if (this.openElements.current().tagID === $.COLGROUP) {
      this.openElements.pop()
      this.insertionMode = InsertionMode.IN_TABLE
      this.processToken(token)
    }
  }

  startTagInTableBody(token: TagToken): void {
    switch (token.tagID) {
      case $.TR:
        this.openElements.clearBackTo(TABLE_BODY_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.insertionMode = InsertionMode.IN_ROW
        return
      case $.TH:
      case $.TD:
        this.openElements.clearBackTo(TABLE_BODY_CONTEXT)
        this.insertFakeElement($.TR, 'tr')
        this.insertionMode = InsertionMode.IN_ROW
        return this.startTagInRow(token)
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        if (this.openElements.hasAnyInScope(TABLE_BODIES, TABLE_SCOPE)) {
          this.closeTableBody()
          this.startTagInTable(token)
        }
        return
      default:
        return this.startTagInTable(token)
    }
  }

  endTagInTableBody(token: TagToken): void {
    if (IGNORED_END_TAGS_IN_TABLE_BODY[token.tagID]) return
    const tagID = token.tagID
    switch (tagID) {
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        if (this.openElements.hasInScope(tagID, TABLE_SCOPE)) this.closeTableBody()
        return
      case $.TABLE:
        if (this.openElements.hasAnyInScope(TABLE_BODIES, TABLE_SCOPE)) {
          this.closeTableBody()
          this.endTagInTable(token)
        }
        return
      default:
        return this.endTagInTable(token)
    }
  }

  startTagInRow(token: TagToken): void {
    switch (token.tagID) {
      case $.TH:
      case $.TD:
        this.openElements.clearBackTo(TABLE_ROW_CONTEXT)
        this.insertElement(token, HTML_NS)
        this.insertionMode = InsertionMode.IN_CELL
        this.activeFormattingElements.insertMarker()
        return
      case $.CAPTION:
      case $.COL:
      case $.COLGROUP:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
      case $.TR:
        if (this.openElements.hasInScope($.TR, TABLE_SCOPE)) {
          this.closeTableRow()
          this.startTagInTableBody(token)
        }
        return
      default:
        return this.startTagInTable(token)
    }
  }

  endTagInRow(token: TagToken): void {
    if (IGNORED_END_TAGS_IN_ROW[token.tagID]) return
    const tagID = token.tagID
    switch (tagID) {
      case $.TR:
        if (this.openElements.hasInScope($.TR, TABLE_SCOPE)) this.closeTableRow()
        return
      case $.TABLE:
        if (this.openElements.hasInScope($.TR, TABLE_SCOPE)) {
          this.closeTableRow()
          this.endTagInTableBody(token)
        }
        return
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
        if (this.openElements.hasInScope(tagID, TABLE_SCOPE) || this.openElements.hasInScope($.TR, TABLE_SCOPE)) {
          this.closeTableRow()
          this.endTagInTableBody(token)
        }
        return
      default:
        return this.endTagInTable(token)
    }
  }

  startTagInCell(token: TagToken): void {
    if (TABLE_VOID[token.tagID]) {
      if (this.openElements.hasInScope($.TD, TABLE_SCOPE) || this.openElements.hasInScope($.TH, TABLE_SCOPE)) {
        this.closeTableCell()
        this.startTagInRow(token)
      }
    } else this.startTagInBody(token)
  }

  /** Closes the current row (the steps of `</tr>`): back to "in table body". */
  closeTableRow(): void {
    this.openElements.clearBackTo(TABLE_ROW_CONTEXT)
    this.openElements.pop()
    this.insertionMode = InsertionMode.IN_TABLE_BODY
  }

  /** Closes the current table body, head or foot: back to "in table". */
  closeTableBody(): void {
    this.openElements.clearBackTo(TABLE_BODY_CONTEXT)
    this.openElements.pop()
    this.insertionMode = InsertionMode.IN_TABLE
  }

  closeTableCell(): void {
    this.openElements.generateImpliedEndTags()
    this.openElements.shortenToLength(Math.max(this.openElements.indexOfTopmostOf(TABLE_CELLS), 0))
    this.activeFormattingElements.clearToLastMarker()
    this.insertionMode = InsertionMode.IN_ROW
  }

  endTagInCell(token: TagToken): void {
    if (IGNORED_END_TAGS_IN_CELL[token.tagID]) return
    const tagID = token.tagID
    switch (tagID) {
      case $.TD:
      case $.TH:
        if (this.openElements.hasInScope(tagID, TABLE_SCOPE)) {
          this.openElements.generateImpliedEndTags()
          this.openElements.popUntilTagNamePopped(tagID)
          this.activeFormattingElements.clearToLastMarker()
          this.insertionMode = InsertionMode.IN_ROW
        }
        return
      case $.TABLE:
      case $.TBODY:
      case $.TFOOT:
      case $.THEAD:
      case $.TR:
        if (this.openElements.hasInScope(tagID, TABLE_SCOPE)) {
          this.closeTableCell()
          this.endTagInRow(token)
        }
        return
      default:
        return this.endTagInBody(token)
    }
  }

  // ---- template, after body

  startTagInTemplate(token: TagToken): void {
    const modes = this.templateInsertionModes
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
        modes[modes.length - 1] = InsertionMode.IN_TABLE
        this.insertionMode = InsertionMode.IN_TABLE
        return this.startTagInTable(token)
      case $.COL:
        modes[modes.length - 1] = InsertionMode.IN_COLUMN_GROUP
        this.insertionMode = InsertionMode.IN_COLUMN_GROUP
        return this.startTagInColumnGroup(token)
      case $.TR:
        modes[modes.length - 1] = InsertionMode.IN_TABLE_BODY
        this.insertionMode = InsertionMode.IN_TABLE_BODY
        return this.startTagInTableBody(token)
      case $.TD:
      case $.TH:
        modes[modes.length - 1] = InsertionMode.IN_ROW
        this.insertionMode = InsertionMode.IN_ROW
        return this.startTagInRow(token)
      default:
        modes[modes.length - 1] = InsertionMode.IN_BODY
        this.insertionMode = InsertionMode.IN_BODY
        return this.startTagInBody(token)
    }
  }

  tokenAfterBody(token: AnyToken): void {
    this.insertionMode = InsertionMode.IN_BODY
    this.modeInBody(token)
  }

  tokenAfterAfterBody(token: AnyToken): void {
    this.insertionMode = InsertionMode.IN_BODY
    this.modeInBody(token)
  }

  resetInsertionMode(): void {
    const i = this.openElements.indexOfTopmostOf(INSERTION_MODE_TAGS)
    const tagID = i === 0 && this.fragment ? $.TEMPLATE : i === -1 ? -1 : this.openElements.items[i]!.tagID
    switch (tagID) {
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
        return this.notModelled('a frameset document')
      case $.TEMPLATE:
        this.insertionMode = this.templateInsertionModes[this.templateInsertionModes.length - 1]!
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
    this.insertionMode = InsertionMode.IN_BODY
  }
}

/** 0, or the kind of integration point an SVG or MathML element is (where its content is parsed as HTML). */
function integrationPoint(tagID: number, namespace: number, attrs: Token.Attribute[]): number {
  if (namespace === SVG_NS) return tagID === $.FOREIGN_OBJECT || tagID === $.DESC || tagID === $.TITLE ? HTML_INTEGRATION_POINT : 0
  if (namespace === MATHML_NS) {
    if (tagID === $.MI || tagID === $.MO || tagID === $.MN || tagID === $.MS || tagID === $.MTEXT) return MATHML_TEXT_INTEGRATION_POINT
    if (tagID === $.ANNOTATION_XML) {
      for (const attr of attrs) {
        if (attr.name === 'encoding') {
          const value = attr.value.toLowerCase()
          return value === 'text/html' || value === 'application/xhtml+xml' ? HTML_INTEGRATION_POINT : 0
        }
      }
    }
  }
  return 0
}

function isHiddenInput(token: TagToken): boolean {
  for (const attr of token.attrs) if (attr.name === 'type') return attr.value.toLowerCase() === 'hidden'
  return false
}

function documentModeOf(token: Token.DoctypeToken): DocumentMode {
  if (token.forceQuirks || token.name !== 'html') return DocumentMode.QUIRKS
  if (token.systemId && token.systemId.toLowerCase() === 'http://www.ibm.com/data/dtd/v11/ibmxhtml1-transitional.dtd') return DocumentMode.QUIRKS
  return token.publicId === null ? DocumentMode.NO_QUIRKS : DocumentMode.NOT_COMPUTED
}
