import { html as H } from 'parse5'
import { NotModelled } from './not-modelled.js'
import { HTML_NS, type OpenElement } from './open-element.js'

/*
 * The stack of open elements (HTML §13.2.4.3), after parse5's `OpenElementStack`
 * (node_modules/parse5/dist/parser/open-element-stack.js): the same element classes, scopes and implied end tags,
 * over the model's elements. Pages are shallow enough that a scan from the top beats parse5's index.
 */

const $ = H.TAG_ID
// The tables below are indexed by tag ID, and the keys by namespace * 256 + tag ID.
if (Object.values($).some((id) => typeof id === 'number' && id > 255)) throw new Error('parse5 has more tag IDs than the fast scanner expects')

// Classes of elements by key: special elements, the special elements that end the search for a list item to close
// (all but HTML `address`, `div` and `p`), and the elements that bound each kind of scope.
export const SPECIAL = 1
export const LIST_ITEM_BOUNDARY = 2
export const SCOPE = 4
export const LIST_ITEM_SCOPE = 8
export const BUTTON_SCOPE = 16
export const TABLE_SCOPE = 32
const KEY_CLASSES = new Uint8Array(768)
for (const [namespace, offset] of [
  [H.NS.HTML, 0],
  [H.NS.SVG, 256],
  [H.NS.MATHML, 512],
] as const) {
  for (const tagID of H.SPECIAL_ELEMENTS[namespace]) {
    KEY_CLASSES[offset + tagID] = namespace === H.NS.HTML && (tagID === $.ADDRESS || tagID === $.DIV || tagID === $.P) ? SPECIAL : SPECIAL | LIST_ITEM_BOUNDARY
  }
}
for (const key of [
  $.APPLET,
  $.CAPTION,
  $.HTML,
  $.MARQUEE,
  $.OBJECT,
  $.TABLE,
  $.TD,
  $.TEMPLATE,
  $.TH,
  256 + $.DESC,
  256 + $.FOREIGN_OBJECT,
  256 + $.TITLE,
  512 + $.ANNOTATION_XML,
  512 + $.MI,
  512 + $.MN,
  512 + $.MO,
  512 + $.MS,
  512 + $.MTEXT,
]) {
  KEY_CLASSES[key]! |= SCOPE | LIST_ITEM_SCOPE | BUTTON_SCOPE
}
// Customizable select: an open select ends the default, list item and button scopes (as scan.ts's BrowserParser has it).
KEY_CLASSES[$.SELECT]! |= SCOPE | LIST_ITEM_SCOPE | BUTTON_SCOPE
KEY_CLASSES[$.OL]! |= LIST_ITEM_SCOPE
KEY_CLASSES[$.UL]! |= LIST_ITEM_SCOPE
KEY_CLASSES[$.BUTTON]! |= BUTTON_SCOPE
KEY_CLASSES[$.TABLE]! |= TABLE_SCOPE
KEY_CLASSES[$.HTML]! |= TABLE_SCOPE

/** A table by tag ID, of the tags listed. */
export function tagSet(...tagIDs: number[]): Uint8Array {
  const set = new Uint8Array(256)
  for (const tagID of tagIDs) set[tagID] = 1
  return set
}
const IMPLIED_END_TAGS = tagSet($.DD, $.DT, $.LI, $.OPTGROUP, $.OPTION, $.P, $.RB, $.RP, $.RT, $.RTC)
const IMPLIED_END_TAGS_THOROUGHLY = tagSet(
  $.DD,
  $.DT,
  $.LI,
  $.OPTGROUP,
  $.OPTION,
  $.P,
  $.RB,
  $.RP,
  $.RT,
  $.RTC,
  $.CAPTION,
  $.COLGROUP,
  $.TBODY,
  $.TD,
  $.TFOOT,
  $.TH,
  $.THEAD,
  $.TR,
)

/** Told when an element is pushed onto the stack or leaves it. */
export interface StackHandler {
  onItemPush(element: OpenElement): void
  /** `wasCurrent`: whether it was the current node (removing an element from the middle leaves the current node as it is). */
  onItemPop(element: OpenElement, wasCurrent: boolean): void
}

export class OpenElementStack {
  readonly items: OpenElement[] = []
  /** Open HTML `<template>` elements. */
  templateCount = 0
  /** Open HTML `<p>` elements: with none, "a p element in button scope" needs no walk (block start tags ask it). */
  paragraphCount = 0
  /** Open HTML `<select>` elements: with none, "a select element in scope" needs no walk (hr and input ask it). */
  selectCount = 0

  constructor(private readonly handler: StackHandler) {}

  /** The current node. */
  current(): OpenElement {
    const current = this.items[this.items.length - 1]
    if (current === undefined) throw new NotModelled('empty stack')
    return current
  }

  push(element: OpenElement): void {
    this.items.push(element)
    element.open = true
    if (element.key === $.TEMPLATE) this.templateCount++
    else if (element.key === $.P) this.paragraphCount++
    else if (element.key === $.SELECT) this.selectCount++
    this.handler.onItemPush(element)
  }

  pop(): void {
    const element = this.items.pop()
    if (element === undefined) throw new NotModelled('empty stack')
    if (this.items.length === 0) throw new NotModelled('popped the root')
    this.closed(element, true)
  }

  /** Removes the element at `index`, wherever it is in the stack. */
  removeAt(index: number): void {
    if (index === this.items.length - 1) return this.pop()
    this.closed(this.items.splice(index, 1)[0]!, false)
  }

  remove(element: OpenElement): void {
    const index = this.items.lastIndexOf(element)
    if (index !== -1) this.removeAt(index)
  }

  private closed(element: OpenElement, wasCurrent: boolean): void {
    element.open = false
    if (element.key === $.TEMPLATE) this.templateCount--
    else if (element.key === $.P) this.paragraphCount--
    else if (element.key === $.SELECT) this.selectCount--
    this.handler.onItemPop(element, wasCurrent)
  }

  shortenToLength(length: number): void {
    while (this.items.length > length) this.pop()
  }

  popUntilTagNamePopped(tagID: number): void {
    this.shortenToLength(Math.max(this.indexOfTopmost(tagID), 0))
  }

  /** Pops elements until one of these HTML tags is the current node ("clear the stack back to a table context"…). */
  clearBackTo(tagIDs: readonly number[]): void {
    this.shortenToLength(this.indexOfTopmostOf(tagIDs) + 1)
  }

  // ---- searches

  /** The index of the topmost open HTML element with this tag, or -1. */
  indexOfTopmost(tagID: number): number {
    const items = this.items
    for (let i = items.length - 1; i >= 0; i--) if (items[i]!.key === tagID) return i
    return -1
  }

  /** The index of the topmost open HTML element with any of these tags, or -1. */
  indexOfTopmostOf(tagIDs: readonly number[]): number {
    const items = this.items
    for (let i = items.length - 1; i >= 0; i--) if (tagIDs.includes(items[i]!.key)) return i
    return -1
  }

  /** The index of the topmost open HTML element with this tag name (for tags without an ID), or -1. */
  indexOfTopmostByName(tagName: string): number {
    const items = this.items
    for (let i = items.length - 1; i >= 0; i--) if (items[i]!.namespace === HTML_NS && items[i]!.tagName === tagName) return i
    return -1
  }

  indexOfTopmostHtmlElement(): number {
    const items = this.items
    let i = items.length - 1
    while (i >= 0 && items[i]!.namespace !== HTML_NS) i--
    return i
  }

  /** Whether an element of these classes (SPECIAL, LIST_ITEM_BOUNDARY) is open above the one at `index`. */
  hasAbove(index: number, classes: number): boolean {
    const items = this.items
    for (let i = items.length - 1; i > index; i--) {
      const key = items[i]!.key
      if (key !== -1 && KEY_CLASSES[key]! & classes) return true
    }
    return false
  }

  // ---- scopes

  /** parse5's `_scanScope`: an HTML element with the tag (and, if given, that element) is open above every boundary of the scope. */
  hasInScope(tagID: number, scope: number, element?: OpenElement): boolean {
    const items = this.items
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!
      const key = item.key
      if (key === -1) continue
      if (key === tagID && (element === undefined || item === element)) return true
      if (KEY_CLASSES[key]! & scope) return false
    }
    return true
  }

  hasAnyInScope(tagIDs: readonly number[], scope: number): boolean {
    const items = this.items
    for (let i = items.length - 1; i >= 0; i--) {
      const key = items[i]!.key
      if (key === -1) continue
      if (tagIDs.includes(key)) return true
      if (KEY_CLASSES[key]! & scope) return false
    }
    return true
  }

  hasParagraphInButtonScope(): boolean {
    return this.paragraphCount !== 0 && this.hasInScope($.P, BUTTON_SCOPE)
  }

  hasSelectInScope(): boolean {
    return this.selectCount !== 0 && this.hasInScope($.SELECT, SCOPE)
  }

  // ---- implied end tags

  generateImpliedEndTags(): void {
    for (let current = this.current(); IMPLIED_END_TAGS[current.tagID] && current.namespace === HTML_NS; current = this.current()) this.pop()
  }

  /** The standard's "generate implied end tags, except for" elements with this tag (the plain set; for `<option>` in a select). */
  generateImpliedEndTagsExcept(tagID: number): void {
    for (let current = this.current(); current.tagID !== tagID && IMPLIED_END_TAGS[current.tagID] && current.namespace === HTML_NS; current = this.current())
      this.pop()
  }

  generateImpliedEndTagsThoroughly(): void {
    for (let current = this.current(); IMPLIED_END_TAGS_THOROUGHLY[current.tagID] && current.namespace === HTML_NS; current = this.current()) this.pop()
  }

  /**
   * parse5's "generate implied end tags, except for" elements with this tag, which pops the thorough set (as parse5
   * does, where the standard pops the plain one: they differ only when a table element is the current node).
   */
  generateImpliedEndTagsWithExclusion(tagID: number): void {
    for (
      let current = this.current();
      current.tagID !== tagID && IMPLIED_END_TAGS_THOROUGHLY[current.tagID] && current.namespace === HTML_NS;
      current = this.current()
    )
      this.pop()
  }
}
