import { html as H, type Token } from 'parse5'
import type { Context, Tag } from '../rules.js'

/*
 * What the fast scanner's model of the tree builder keeps of an element: enough to follow the tree construction
 * rules (tag, namespace, integration point, whether it is still open) and what the element has yet to report to
 * the scan. The model never builds the tree itself.
 */

// Namespaces, numbered as the keys below count them.
export const HTML_NS = 0
export const SVG_NS = 1
export const MATHML_NS = 2

/** An HTML integration point (SVG `foreignObject`, `desc`, `title`; MathML `annotation-xml` holding HTML). */
export const HTML_INTEGRATION_POINT = 1
/** A MathML text integration point (`mi`, `mo`, `mn`, `ms`, `mtext`). */
export const MATHML_TEXT_INTEGRATION_POINT = 2

/** An element the tree builder has inserted (or is about to), as far as the tree construction rules look at it. */
export class OpenElement {
  /** Whether it is on the stack of open elements. */
  open = false
  /** What it reports once it closes (its text, its template content, its noscript content), if anything. */
  report: PendingReport | null = null
  /** Its entry in the list of active formatting elements, if it has one. */
  formattingEntry: FormattingEntry | null = null
  /**
   * One number for the tag in its namespace, as parse5's stack keys elements: namespace * 256 + tag ID, so an HTML
   * element's key is its tag ID; -1 for a tag without an ID. Scope checks look its classes up by key.
   */
  readonly key: number

  constructor(
    readonly tagID: number,
    readonly namespace: number,
    readonly tagName: string,
    /** 0, {@link HTML_INTEGRATION_POINT} or {@link MATHML_TEXT_INTEGRATION_POINT}. */
    readonly integrationPoint: number,
  ) {
    this.key = tagID === H.TAG_ID.UNKNOWN ? -1 : namespace * 256 + tagID
  }
}

/** An entry of the list of active formatting elements: the element and the token it was made from (its clones repeat it). */
export interface FormattingEntry {
  element: OpenElement
  token: Token.TagToken
}

/**
 * What an open element reports when the tree builder closes it:
 * - `script`, `never-runs`, `style`: the script (one that runs, or one that never does) or style reported when it
 *   opened, whose text the character tokens inserted into it make up; an empty script then reports nothing;
 * - `noscript`: a `<noscript>` read as raw text (scripting on), whose source range is then parsed with scripting off;
 * - `template`: a `<template>`, reported if its content added scripts or styles.
 */
export class PendingReport {
  /** The script or style reported, whose text grows as characters are inserted. */
  code: { text: string } | undefined
  /** The `<noscript>` raw text's range in the builder's input, once it has text. */
  start = -1
  end = -1
  /** The scripts and styles reported before a `<template>` opened. */
  before = 0
  /** A `<template>`'s start tag, and its tag if it was already read for an attribute. */
  token: Token.TagToken | undefined
  tag: Tag | undefined

  constructor(
    readonly kind: 'script' | 'never-runs' | 'style' | 'noscript' | 'template',
    readonly context: Context,
  ) {}
}
