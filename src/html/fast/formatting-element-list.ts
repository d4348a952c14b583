import type { Token } from 'parse5'
import type { FormattingEntry, OpenElement } from './open-element.js'

/*
 * The list of active formatting elements (HTML §13.2.4.3), after parse5's `FormattingElementList`
 * (node_modules/parse5/dist/parser/formatting-element-list.js). It matters to the scan because the tree builder
 * reopens (clones) the formatting elements a block closed, and each clone repeats the attributes of its start tag:
 * `<p><b style=x>a</p>b` has two `<b style=x>` elements, and the style attribute is reported twice.
 */

/** Entries after the last marker with the same tag and attributes that may stay in the list ("Noah's Ark"). */
const NOAH_ARK_CAPACITY = 3

export class FormattingElementList {
  /** Oldest first; null is a marker (pushed for `<applet>`, `<object>`, `<marquee>`, `<template>`, cells and captions). */
  readonly entries: Array<FormattingEntry | null> = []

  insertMarker(): void {
    this.entries.push(null)
  }

  pushElement(element: OpenElement, token: Token.TagToken): void {
    const entries = this.entries
    let count = 0
    let earliest = -1
    let key: string | undefined
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as FormattingEntry | null
      if (entry === null) break
      if (entry.token.tagName !== token.tagName || entry.token.attrs.length !== token.attrs.length) continue
      key ??= arkKey(token)
      if (arkKey(entry.token) === key) {
        count++
        earliest = i
      }
    }
    if (count >= NOAH_ARK_CAPACITY) this.removeEntry(entries[earliest]!)
    const entry = { element, token }
    element.formattingEntry = entry
    entries.push(entry)
  }

  removeEntry(entry: FormattingEntry): void {
    const entries = this.entries
    const index = entries.lastIndexOf(entry)
    if (index === -1) return
    if (index === entries.length - 1) entries.pop()
    else entries.splice(index, 1)
    entry.element.formattingEntry = null
  }

  /** The entry after the last marker for an element with this tag name, if any. */
  getElementEntryInScopeWithTagName(tagName: string): FormattingEntry | undefined {
    const entries = this.entries
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as FormattingEntry | null
      if (entry === null) return undefined
      if (entry.token.tagName === tagName) return entry
    }
    return undefined
  }

  clearToLastMarker(): void {
    const entries = this.entries
    let i = entries.length - 1
    for (let entry = entries[i]; i >= 0 && entry !== null; entry = entries[--i]) entry!.element.formattingEntry = null
    entries.length = Math.max(i, 0)
  }
}

/** Tag name and attributes: two entries with the same key are the same for Noah's Ark. */
function arkKey(token: Token.TagToken): string {
  return (
    token.tagName +
    token.attrs
      .map(({ name, value }) => `\0${name}\0${value}`)
      .sort()
      .join('')
  )
}
