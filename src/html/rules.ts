/**
 * What an HTML element means to a Content-Security-Policy, and the shape of what a scan reports. Both scanners
 * (`scanHtml`, over parse5's tree, and `fastScanHtml`, over a model of parse5's tree builder) read every element
 * through these rules: they differ only in how they find the elements, so they cannot disagree on what one means.
 */

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

/**
 * Script code that no browser ever runs, kept apart so that it never gets a hash: a hash in the policy would let
 * the same text run if it were injected into the page later.
 * - `noscript`: inside `<noscript>` content, which browsers parse as HTML only with scripting off, when nothing runs
 *   (with scripting on it is raw text). Styles there still apply with scripting off and are reported as usual.
 * - `mathml`: a MathML `<script>`, which is an element like any other, not a script.
 */
export interface NeverRuns {
  reason: 'noscript' | 'mathml'
  /** The script's text, or the event handler's or `javascript:` URL's attribute value ('' for a script file). */
  text: string
  /** The file a `<script>` names. */
  url?: string
  /** The attribute, for an event handler or a `javascript:` URL. */
  attribute?: string
  tag: Tag
}

/** The fetch (or navigation) directives that govern the URLs {@link resourceRefs} reports. */
export type ResourceDirective = 'img-src' | 'media-src' | 'frame-src' | 'object-src' | 'font-src' | 'manifest-src' | 'connect-src' | 'form-action' | 'base-uri'

/** A URL an element names that the browser fetches (or submits a form to, or resolves URLs against) under a directive. */
export interface ResourceRef {
  directive: ResourceDirective
  url: string
  /** The attribute that names it (`src`, `srcset`, `action`, …). */
  attribute: string
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
  /** Scripts, event handlers and `javascript:` URLs that never run (see {@link NeverRuns}): never hashed. */
  neverRuns: NeverRuns[]
  /** URLs of images, media, frames, plugins, fonts, manifests, form targets and `<base>` (see {@link resourceRefs}). */
  resources: ResourceRef[]
  /** `<meta http-equiv=Content-Security-Policy[-Report-Only]>` elements in `<head>` (the ones browsers read). */
  metas: CspMeta[]
  /** Where the policy meta tag goes: after `<meta charset>` or at the start of `<head>`. */
  metaInsert: number
  /** Declared charset (lowercase), if any. */
  charset?: { value: string; tag: Tag }
  /** First `<base href>`, which changes how relative URLs resolve. */
  baseHref?: string
  /** The `<template>` elements holding scripts or styles (reported: inert until cloned). */
  templatesWithCode: Tag[]
  /**
   * Why the fast scanner handed documents to the tree scanner: one reason per document (the page, or an
   * `<iframe srcdoc>` document in it) whose constructs its model of the tree builder does not follow. Empty when it
   * followed them all, and always empty from `scanHtml`. The scan is the same either way; only the time differs.
   */
  fallbacks: string[]
}

export function emptyScan(): Scan {
  return { inline: [], external: [], attributes: [], neverRuns: [], resources: [], metas: [], metaInsert: 0, templatesWithCode: [], fallbacks: [] }
}

export type Namespace = 'html' | 'svg' | 'mathml' | 'other'

/** A tag's attributes by name, as the tree holds them (`xlink:href` with its prefix). */
export type Attributes = ReadonlyMap<string, { value: string }>

/**
 * The elements that mean something to a CSP besides their attributes: scripts, styles, links, metas (policy,
 * charset), `<base>`, `<iframe srcdoc>`, `<template>` (reported when it holds code) and `<noscript>` (its content).
 */
export const REPORTING_ELEMENTS = ['script', 'style', 'link', 'meta', 'base', 'iframe', 'template', 'noscript'] as const

/** MIME types for which a `<script>` is JavaScript (HTML §4.12.1.1, "JavaScript MIME type essence match"). */
const JS_MIME = new Set([
  'application/ecmascript',
  'application/javascript',
  'application/x-ecmascript',
  'application/x-javascript',
  'text/ecmascript',
  'text/javascript',
  'text/javascript1.0',
  'text/javascript1.1',
  'text/javascript1.2',
  'text/javascript1.3',
  'text/javascript1.4',
  'text/javascript1.5',
  'text/jscript',
  'text/livescript',
  'text/x-ecmascript',
  'text/x-javascript',
])

/** The script type the browser would run this element as, or undefined for a data block. */
export function scriptType(attrs: Attributes): ScriptType | undefined {
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
 * What a `<script>` start tag reports. Its text comes later, as the parser yields it: an inline script or one that
 * never runs is reported with `text: ''`, to be filled in; one whose text stays empty reports nothing.
 */
export type ScriptReport = { kind: 'inline'; code: InlineCode } | { kind: 'external'; ref: ExternalRef } | { kind: 'never-runs'; code: NeverRuns }

/**
 * See {@link ScriptReport}; undefined for a data block (or an import map or speculation rules naming a file, which
 * browsers ignore). `scripting`: whether the document runs scripts (not noscript content, parsed with scripting off).
 */
export function scriptReport(namespace: Namespace, tag: Tag, scripting: boolean): ScriptReport | undefined {
  const attrs = tag.attrs
  if (namespace === 'mathml') return { kind: 'never-runs', code: { reason: 'mathml', text: '', tag } }
  // As Chromium runs them: an SVG script reads `type` but not `language`, and loads `href` (else `xlink:href`), not `src`.
  const svg = namespace === 'svg'
  const type = !svg || attrs.has('type') ? scriptType(attrs) : 'classic'
  if (type === undefined) return undefined
  const src = svg ? (attrs.get('href')?.value ?? attrs.get('xlink:href')?.value) : attrs.get('src')?.value
  if (!scripting)
    return { kind: 'never-runs', code: src === undefined ? { reason: 'noscript', text: '', tag } : { reason: 'noscript', text: '', url: src, tag } }
  if (src === undefined) return { kind: 'inline', code: { element: 'script', type, text: '', tag } }
  if (type === 'importmap' || type === 'speculationrules') return undefined
  const ref: ExternalRef = { element: 'script', destination: 'script', rel: 'script', url: src, tag }
  if (svg) ref.noCors = true
  return { kind: 'external', ref }
}

/** Whether code that never runs is worth reporting: an attribute, a file, or a script with text (an empty one is nothing). */
export function neverRunsReported(code: NeverRuns): boolean {
  return code.text !== '' || code.url !== undefined || code.attribute !== undefined
}

/** What an HTML `<link>` loads as a script or a stylesheet, if anything (by `rel`, and `as` for preloads). */
export function linkRef(tag: Tag): ExternalRef | undefined {
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

/**
 * Records what an HTML `<meta>` of the document says: a policy (browsers read one only in `<head>`) and the page's
 * charset (the first declared). Returns whether it declared the charset in `<head>`, where the policy meta may follow it.
 */
export function recordMeta(scan: Scan, tag: Tag, inHead: boolean): boolean {
  const httpEquiv = tag.attrs.get('http-equiv')?.value.trim().toLowerCase()
  const content = tag.attrs.get('content')?.value
  if ((httpEquiv === 'content-security-policy' || httpEquiv === 'content-security-policy-report-only') && content !== undefined && inHead) {
    scan.metas.push({ content, reportOnly: httpEquiv.endsWith('report-only'), start: tag.start, end: tag.end, tag })
  }
  const charset = tag.attrs.get('charset')?.value ?? (httpEquiv === 'content-type' ? /charset\s*=\s*["']?([^\s"';]+)/i.exec(content ?? '')?.[1] : undefined)
  if (charset === undefined || scan.charset) return false
  scan.charset = { value: charset.trim().toLowerCase(), tag }
  return inHead
}

/** The elements {@link resourceRefs} reads: HTML ones, and SVG's `<image>`. */
export const RESOURCE_ELEMENTS = [
  'img',
  'source',
  'iframe',
  'frame',
  'video',
  'audio',
  'track',
  'form',
  'button',
  'input',
  'object',
  'embed',
  'link',
  'base',
  'image',
] as const

/** `<link rel>` values that fetch under a directive of their own (stylesheets and scripts are {@link linkRef}'s). */
const LINK_RESOURCES: Record<string, ResourceDirective> = {
  icon: 'img-src',
  'apple-touch-icon': 'img-src',
  'apple-touch-icon-precomposed': 'img-src',
  'mask-icon': 'img-src',
  manifest: 'manifest-src',
}
/** `<link rel=preload as=…>` destinations and their directives. */
const PRELOAD_AS: Record<string, ResourceDirective> = {
  font: 'font-src',
  image: 'img-src',
  fetch: 'connect-src',
  audio: 'media-src',
  video: 'media-src',
  track: 'media-src',
}

/** The URLs of a `srcset` (or `imagesrcset`): each candidate's URL, without its width or density descriptor. */
export function srcsetUrls(srcset: string): string[] {
  const urls: string[] = []
  // HTML's "parse a srcset attribute": a URL runs to whitespace; a trailing comma ends it; descriptors run to a comma outside parentheses.
  let i = 0
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r'
  while (i < srcset.length) {
    while (i < srcset.length && (ws(srcset[i]) || srcset[i] === ',')) i++
    if (i >= srcset.length) break
    let j = i
    while (j < srcset.length && !ws(srcset[j])) j++
    let url = srcset.slice(i, j)
    i = j
    if (url.endsWith(',')) url = url.replace(/,+$/, '')
    else {
      let depth = 0
      while (i < srcset.length && (depth > 0 || srcset[i] !== ',')) {
        if (srcset[i] === '(') depth++
        else if (srcset[i] === ')') depth = Math.max(0, depth - 1)
        i++
      }
    }
    if (url !== '') urls.push(url)
  }
  return urls
}

/**
 * The URLs an element names that its policy governs, each with its directive: `<img src/srcset>`, `<source
 * srcset>` (a picture's) and `<source src>` (a video's or audio's), `<input type=image src>`, `poster`, `<iframe
 * src>`, `<video>`/`<audio>`/`<track src>`, `<object data>`, `<embed src>`, `<form action>` and `formaction`, `<link>`
 * icons, manifests and preloads (fonts, images, fetches, media), `<base href>` and SVG `<image href>`.
 */
export function resourceRefs(namespace: Namespace, tag: Tag): ResourceRef[] {
  const refs: ResourceRef[] = []
  const attrs = tag.attrs
  const add = (directive: ResourceDirective, attribute: string, value = attrs.get(attribute)?.value) => {
    if (value !== undefined && value.trim() !== '') refs.push({ directive, url: value, attribute, tag })
  }
  const addSrcset = (attribute: string) => {
    const value = attrs.get(attribute)?.value
    if (value !== undefined) for (const url of srcsetUrls(value)) add('img-src', attribute, url)
  }
  if (namespace === 'svg') {
    if (tag.name === 'image') add('img-src', attrs.has('href') ? 'href' : 'xlink:href')
    return refs
  }
  if (namespace !== 'html') return refs
  switch (tag.name) {
    case 'img':
      add('img-src', 'src')
      addSrcset('srcset')
      break
    case 'source':
      addSrcset('srcset')
      add('media-src', 'src')
      break
    case 'input':
      if (attrs.get('type')?.value.trim().toLowerCase() === 'image') add('img-src', 'src')
      add('form-action', 'formaction')
      break
    case 'button':
      add('form-action', 'formaction')
      break
    case 'form':
      add('form-action', 'action')
      break
    case 'iframe':
      // An iframe with srcdoc shows that document and never fetches its src.
      if (!attrs.has('srcdoc')) add('frame-src', 'src')
      break
    case 'frame':
      add('frame-src', 'src')
      break
    case 'video':
      add('media-src', 'src')
      add('img-src', 'poster')
      break
    case 'audio':
    case 'track':
      add('media-src', 'src')
      break
    case 'object':
      add('object-src', 'data')
      break
    case 'embed':
      add('object-src', 'src')
      break
    case 'base':
      add('base-uri', 'href')
      break
    case 'link': {
      const rels = (attrs.get('rel')?.value ?? '').toLowerCase().split(/[\t\n\f\r ]+/)
      const as = attrs.get('as')?.value.trim().toLowerCase() ?? ''
      const directive = rels.includes('preload') ? PRELOAD_AS[as] : rels.map((rel) => LINK_RESOURCES[rel]).find(Boolean)
      if (directive) {
        add(directive, 'href')
        if (directive === 'img-src') addSrcset('imagesrcset')
      }
      break
    }
  }
  return refs
}

/** Attributes whose value is a URL, where a `javascript:` URL runs script. */
const URL_ATTRIBUTES = ['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'background']

/** First letters of the attributes that can report something: most attributes (class, id, data-*, aria-*) are none. */
const REPORTING_FIRST_LETTERS = new Uint8Array(128)
for (const name of ['style', 'on', ...URL_ATTRIBUTES]) REPORTING_FIRST_LETTERS[name.charCodeAt(0)] = 1

/** What an attribute (its name as the tree holds it, `xlink:href` with its prefix) is to the policy, if anything. */
export function attributeKind(name: string, value: string): InlineAttribute['kind'] | undefined {
  const first = name.charCodeAt(0)
  if (first >= 128 || !REPORTING_FIRST_LETTERS[first]) return undefined
  if (name === 'style') return 'style'
  if (first === 111 /* o */ && name.charCodeAt(1) === 110 /* n */ && name.length > 2) return 'handler'
  if (URL_ATTRIBUTES.includes(name) && isJavascriptUrl(value)) return 'javascript-url'
  return undefined
}

/** Records an attribute of this kind; handlers and `javascript:` URLs of a document parsed with scripting off never run. */
export function recordAttribute(scan: Scan, kind: InlineAttribute['kind'], name: string, value: string, tag: Tag, scripting: boolean): void {
  if (kind === 'style' || scripting) scan.attributes.push({ kind, name, value, tag })
  else scan.neverRuns.push({ reason: 'noscript', text: value, attribute: name, tag })
}

export function isJavascriptUrl(value: string): boolean {
  // Most URLs fail at once: after the leading C0 controls and spaces, the value must start with j.
  let i = 0
  while (i < value.length && value.charCodeAt(i) <= 32) i++
  const c = value.charCodeAt(i)
  if (c !== 106 && c !== 74) return false
  // URL parsing strips leading/trailing C0 controls and spaces and removes tabs and newlines anywhere.
  return value
    .replace(/^[\0- ]+|[\0- ]+$/g, '')
    .replace(/[\t\n\r]/g, '')
    .toLowerCase()
    .startsWith('javascript:')
}

/**
 * Records the scan of an `<iframe srcdoc>` document on the iframe's tag: that document inherits the page's policy,
 * and its text is an attribute value, so nothing in it can be edited in place. In a document parsed with scripting
 * off (noscript content) its scripts never run either. Returns the number of scripts and styles it adds.
 */
export function recordSrcdoc(scan: Scan, inner: Scan, iframe: Tag, scripting: boolean): number {
  const tag: Tag = {
    name: iframe.name,
    start: iframe.start,
    end: iframe.end,
    nameEnd: iframe.nameEnd,
    attrInsert: iframe.attrInsert,
    line: iframe.line,
    column: iframe.column,
    attrs: iframe.attrs,
    context: 'srcdoc',
    editable: false,
  }
  const relocate = <T extends { tag: Tag }>(item: T): T => ({ ...item, tag })
  let added = 0
  for (const code of inner.inline) {
    if (code.element === 'script' && !scripting) {
      scan.neverRuns.push({ reason: 'noscript', text: code.text, tag })
    } else {
      scan.inline.push(relocate(code))
      added++
    }
  }
  for (const attr of inner.attributes) recordAttribute(scan, attr.kind, attr.name, attr.value, tag, scripting)
  for (const ref of inner.external) {
    if (ref.element === 'script' && !scripting) {
      scan.neverRuns.push({ reason: 'noscript', text: '', url: ref.url, tag })
    } else {
      scan.external.push(relocate(ref))
      added++
    }
  }
  scan.neverRuns.push(...inner.neverRuns.map(relocate))
  scan.resources.push(...inner.resources.map(relocate))
  scan.fallbacks.push(...inner.fallbacks.map((reason) => `${reason} (in an iframe srcdoc)`))
  return added
}
