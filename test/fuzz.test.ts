/**
 * Hostile inputs: generated HTML and policies. Whatever comes in, csp-seal either seals it (idempotently,
 * touching no byte outside its edits, placing the meta where the browser reads it, emitting a valid
 * policy) or throws a SealError naming the problem; nothing else ever escapes.
 */
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import type { DefaultTreeAdapterMap } from 'parse5'
import { describe, expect, it } from 'vitest'
import { parse } from '../src/html/scan.js'
import { parsePolicy, sealHtml, serializePolicy, SealError, type SealedPage } from '../src/index.js'
import { propertyRuns } from './support/property-runs.js'

const ASSETS: Record<string, string> = { 'a.js': 'console.log(1)', 'b.css': 'p{}', 'dir/c.js': '2' }
const readAsset = async (path: string) => (path in ASSETS ? Buffer.from(ASSETS[path]!) : undefined)

const char = fc.constantFrom(
  'a',
  'Z',
  '0',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '\0',
  '\f',
  'é',
  '日',
  '😀',
  '\u2028',
  '\uFEFF',
  '<',
  '>',
  '/',
  '&',
  '&amp;',
  '&lt;',
  '&#0;',
  '&#x110000;',
  '&nbsp',
  '"',
  "'",
  '=',
  '`',
  '-',
  '--',
  '!',
  '?',
  ']]>',
  '\\',
)
const text = fc.array(char, { maxLength: 24 }).map((parts) => parts.join(''))
const tagName = fc.constantFrom(
  'script',
  'SCRIPT',
  'style',
  'link',
  'meta',
  'base',
  'div',
  'p',
  'table',
  'tr',
  'td',
  'select',
  'option',
  'textarea',
  'title',
  'svg',
  'math',
  'foreignObject',
  'mi',
  'template',
  'noscript',
  'iframe',
  'xmp',
  'noembed',
  'head',
  'body',
  'html',
  'frameset',
  'img',
  'a',
  'form',
  'button',
  'g',
  'desc',
  'annotation-xml',
  'plaintext',
  'noframes',
  'object',
  'embed',
)
const attrName = fc.constantFrom(
  'src',
  'href',
  'rel',
  'type',
  'style',
  'onclick',
  'onerror',
  'ONLOAD',
  'integrity',
  'crossorigin',
  'as',
  'charset',
  'http-equiv',
  'content',
  'srcdoc',
  'language',
  'xlink:href',
  'x',
  'nonce',
  'encoding',
)
const attrValue = fc.oneof(
  text,
  fc.constantFrom(
    'a.js',
    '/a.js',
    'dir/c.js',
    '../a.js?x#y',
    'b.css',
    'stylesheet',
    'modulepreload',
    'preload',
    'script',
    'style',
    'module',
    'importmap',
    'text/javascript',
    'application/ld+json',
    'utf-8',
    'javascript:alert(1)',
    ' JaVaScRiPt:x',
    'https://cdn.example/x.js',
    'data:,x',
    'text/html',
  ),
  fc.integer({ min: 1000, max: 20000 }).map((n) => 'x'.repeat(n)),
)
const attribute = fc
  .tuple(attrName, attrValue, fc.constantFrom('"', "'", ''))
  .map(([name, value, quote]) => (quote ? ` ${name}=${quote}${value.replaceAll(quote, '')}${quote}` : ` ${name}=${value.replace(/[\s>"'=<`]/g, '') || 'x'}`))
const token = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(tagName, fc.array(attribute, { maxLength: 3 }), fc.boolean())
      .map(([name, attrs, selfClose]) => `<${name}${attrs.join('')}${selfClose ? '/' : ''}>`),
  },
  { weight: 3, arbitrary: tagName.map((name) => `</${name}>`) },
  { weight: 4, arbitrary: text },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '<!-- c -->',
      '<!--',
      '<![CDATA[x]]>',
      '<!doctype html>',
      '<',
      '</',
      '<div',
      '<script>',
      '<?php ?>',
      '<meta charset="utf-8">',
      '<meta charset=windows-1252>',
    ),
  },
)
const hostileHtml = fc.tuple(fc.boolean(), fc.array(token, { maxLength: 40 })).map(([bom, tokens]) => (bom ? '\uFEFF' : '') + tokens.join(''))

type Node = DefaultTreeAdapterMap['node']
type Element = DefaultTreeAdapterMap['element']
const META = /<meta http-equiv="Content-Security-Policy" content="[^"]*" data-csp-seal>/
const CHARSET = '<meta charset="utf-8">'

/** Every element in document order, as the browser's parser builds the tree (with scripting on; parse5 made to agree with Chromium). */
function elements(node: Node, out: Element[] = []): Element[] {
  for (const child of 'childNodes' in node ? node.childNodes : []) {
    if ('tagName' in child) out.push(child)
    elements(child, out)
  }
  return out
}

describe('fuzzing the sealer with hostile HTML', () => {
  it('seals or throws a SealError; sealed pages are idempotent, untouched elsewhere, and their meta is where browsers read it', async () => {
    let sealedCount = 0
    await fc.assert(
      fc.asyncProperty(hostileHtml, async (html) => {
        let page: SealedPage
        try {
          page = await sealHtml(html, { file: 'dir/page.html', readAsset })
        } catch (error) {
          expect(error).toBeInstanceOf(SealError)
          for (const problem of (error as SealError).problems) {
            expect(problem.code).toMatch(/^[a-z-]+$/)
            expect(problem.message.length).toBeGreaterThan(0)
          }
          return
        }
        sealedCount++
        // Only csp-seal's own edits differ: its meta tag (with a charset meta where the page declared none) and
        // integrity attributes. A page's own CSP meta stays as it is.
        const meta = META.exec(page.html)?.[0]
        const inserted = page.warnings.some((w) => w.code === 'charset-added') ? CHARSET + meta : meta
        const stripped = page.html.replace(inserted ?? '', '').replace(/ integrity="sha384-[A-Za-z0-9+/=]+"/g, '')
        expect(stripped).toBe(html)
        // The sealed bytes are the page's UTF-8, and the nonce slots point where a nonce attribute goes.
        const bytes = Buffer.from(page.bytes)
        expect(bytes.equals(Buffer.from(page.html, 'utf8'))).toBe(true)
        for (const slot of page.nonceSlots.tags) expect(bytes.subarray(Math.max(0, slot - 7), slot).toString('latin1')).toMatch(/<(style|link|script)$/i)
        const [metaStart, metaEnd] = page.nonceSlots.meta as [number, number]
        expect(bytes.subarray(metaStart, metaEnd).toString()).toBe(meta)
        // Sealing again changes nothing.
        const again = await sealHtml(page.html, { file: 'dir/page.html', readAsset })
        expect(again.html).toBe(page.html)
        // The policy is grammatical.
        const text = serializePolicy(page.policy)
        expect(serializePolicy(parsePolicy(text))).toBe(text)
        expect(text).not.toMatch(/[,\n\r\0]/)
        // The browser puts the meta in <head>, before every script, style and stylesheet it would load.
        const all = elements(parse(page.html.replace(/^\uFEFF/, ''), {}))
        const metaIndex = all.findIndex((e) => e.tagName === 'meta' && e.attrs.some((a) => a.name === 'data-csp-seal'))
        expect(metaIndex).toBeGreaterThanOrEqual(0)
        expect(all[metaIndex]!.parentNode && 'tagName' in all[metaIndex]!.parentNode ? all[metaIndex]!.parentNode.tagName : '').toBe('head')
        const firstLoading = all.findIndex(
          (e) => e.namespaceURI === 'http://www.w3.org/1999/xhtml' && (e.tagName === 'script' || e.tagName === 'style' || e.tagName === 'link'),
        )
        if (firstLoading !== -1) expect(metaIndex).toBeLessThan(firstLoading)
      }),
      { numRuns: propertyRuns(5000) },
    )
    expect(sealedCount).toBeGreaterThan(propertyRuns(5000) / 2)
  }, 240_000)
})

describe('fuzzing policies', () => {
  const anyChar = fc.oneof(fc.constantFrom(';', ',', ' ', '\n', "'", '"', ':', '/', '*', '-', '=', '\0', 'é', '\u00a0'), fc.string({ maxLength: 3 }))
  const noisyPolicy = fc
    .array(
      fc.oneof(
        anyChar,
        fc.constantFrom(
          'script-src',
          "'self'",
          "'nonce-abc'",
          "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
          'default-src',
          'https://a.example',
          'img-src',
          'data:',
          "'unsafe-inline'",
          'report-uri',
          '/r',
        ),
      ),
      { maxLength: 20 },
    )
    .map((parts) => parts.join(''))

  it('a config policy is either valid (and round-trips) or rejected with a SealError', () => {
    fc.assert(
      fc.property(noisyPolicy, (text) => {
        let policy
        try {
          policy = parsePolicy(text)
        } catch (error) {
          expect(error).toBeInstanceOf(SealError)
          return
        }
        const serialized = serializePolicy(policy)
        expect(serialized).not.toMatch(/[,\n\r\0\u0080-\uffff]|'nonce-/)
        expect(serializePolicy(parsePolicy(serialized))).toBe(serialized)
      }),
      { numRuns: propertyRuns(3000) },
    )
  })

  it('a CSP meta already in the page is kept as it is when valid, and otherwise named in the error', async () => {
    await fc.assert(
      fc.asyncProperty(noisyPolicy, async (content) => {
        const attr = content.replace(/&/g, '&amp;').replace(/"/g, '&quot;')
        const own = `<meta http-equiv="Content-Security-Policy" content="${attr}">`
        const html = `<head>${own}<script>1</script></head>`
        try {
          const page = await sealHtml(html, { file: 'p.html' })
          expect(page.html.match(/http-equiv/g)).toHaveLength(2)
          expect(page.html.split(own)).toHaveLength(2)
          expect(serializePolicy(parsePolicy(serializePolicy(page.policy)))).toBe(serializePolicy(page.policy))
        } catch (error) {
          expect(error).toBeInstanceOf(SealError)
          expect((error as SealError).problems[0]!.file).toBe('p.html')
          expect((error as SealError).problems[0]!.line).toBe(1)
        }
      }),
      { numRuns: propertyRuns(1000) },
    )
  })
})

describe('hashes agree with an independent implementation', () => {
  it('inline script hashes are sha256 over the parser text, UTF-8 encoded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 40 }).filter((t) => !/<\/script|<!--|<script/i.test(t) && t !== ''),
        async (body) => {
          const page = await sealHtml(`<script>${body}</script>`)
          const browserText = body.replace(/\r\n?/g, '\n').replace(/\0/g, '\uFFFD')
          expect(page.scriptHashes).toEqual([`'sha256-${createHash('sha256').update(Buffer.from(browserText, 'utf8')).digest('base64')}'`])
        },
      ),
      { numRuns: propertyRuns(1000) },
    )
  })
})

describe("a page's own CSP meta", () => {
  const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
  type Item = { kind: 'script' | 'style'; attr: boolean; text: string }
  const itemArb = fc.record({
    kind: fc.constantFrom<'script' | 'style'>('script', 'style'),
    attr: fc.boolean(),
    text: fc.constantFrom('a()', 'b()', 'color:red', 'margin:0'),
  })
  /** Policies a page may carry, some with the hash of a text the page holds. */
  const ownPolicy = fc.constantFrom(
    "script-src 'none'",
    "script-src 'self'",
    "script-src 'unsafe-inline'",
    "default-src 'self'",
    "default-src 'self' 'unsafe-inline'",
    "style-src 'none'",
    `style-src 'unsafe-inline' ${sha256('margin:0#1')}`,
    `script-src 'self' ${sha256('a()#2')}`,
    "script-src-elem 'unsafe-inline'; script-src-attr 'none'",
    `style-src-attr 'unsafe-hashes' ${sha256('color:red#3')}`,
    "img-src 'self' data:",
    "script-src 'strict-dynamic' 'unsafe-inline'",
    `script-src-attr 'unsafe-hashes' ${sha256('b()#0')}`,
  )
  /** An independent model of CSP3's inline check for these simple policies. */
  const oracleAllows = (policy: string, { kind, attr, text }: Item): boolean => {
    const directives = new Map(
      policy
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...sources]) => [name!, sources]),
    )
    const chain = attr ? [`${kind}-src-attr`, `${kind}-src`, 'default-src'] : [`${kind}-src-elem`, `${kind}-src`, 'default-src']
    const list = chain.map((d) => directives.get(d)).find(Boolean)
    if (!list) return true
    const switchedOff = list.some((s) => /^'(sha\d+|nonce)-/.test(s)) || (kind === 'script' && list.includes("'strict-dynamic'"))
    if (list.includes("'unsafe-inline'") && !switchedOff) return true
    if (attr && !list.includes("'unsafe-hashes'")) return false
    return list.includes(sha256(text))
  }
  const markup = ({ kind, attr, text }: Item) => (attr ? `<p ${kind === 'style' ? 'style' : 'onclick'}="${text}">x</p>` : `<${kind}>${text}</${kind}>`)
  const pageArb = fc.record({
    own: fc.array(ownPolicy, { minLength: 1, maxLength: 2 }),
    before: fc.array(
      itemArb.filter((i) => !i.attr),
      { maxLength: 2 },
    ),
    after: fc.array(itemArb, { maxLength: 6 }),
    handlers: fc.constantFrom<'hash' | 'report'>('hash', 'report'),
    config: fc.constantFrom(undefined, "default-src 'self'", "script-src 'self'; style-src 'self' 'unsafe-inline'"),
  })

  it('is kept byte for byte where browsers read it; csp-seal hashes only what it lets run, and breaks nothing it allows', async () => {
    await fc.assert(
      fc.asyncProperty(pageArb, async ({ own, before, after, handlers, config }) => {
        // Each text is unique on the page (its index), so a hash stands for one element.
        const unique = (items: Item[], offset: number) => items.map((item, i) => ({ ...item, text: `${item.text}#${i + offset}` }))
        const early = unique(before, 0)
        const late = unique(after, early.length)
        const metas = own.map((policy) => `<meta http-equiv="Content-Security-Policy" content="${policy}">`)
        const html = `<!doctype html><html><head><meta charset="utf-8">${early.map(markup).join('')}${metas.join('')}</head><body>${late.map(markup).join('')}</body></html>`
        const page = await sealHtml(html, { config: { eventHandlers: handlers, ...(config ? { policy: config } : {}) } })
        // Every own meta is in the page as it was, in <head>, where browsers enforce it.
        const tree = elements(parse(page.html, {}))
        for (const policy of own) {
          const found = tree.filter((e) => e.tagName === 'meta' && e.attrs.some((a) => a.name === 'content' && a.value === policy))
          expect(found.length).toBeGreaterThanOrEqual(1)
          expect(found.every((e) => (e.parentNode as Element).tagName === 'head')).toBe(true)
        }
        for (const meta of metas) expect(page.html).toContain(meta)
        const sealed = serializePolicy(page.policy)
        const hashed = (item: Item) => sealed.includes(sha256(item.text))
        const wantsHash = (item: Item) => !(item.kind === 'script' && item.attr && handlers === 'report')
        for (const item of late) {
          const ownAllows = own.every((policy) => oracleAllows(policy, item))
          if (!ownAllows) expect(hashed(item), `${markup(item)} is blocked by ${own.join(' | ')}`).toBe(false)
          else if (wantsHash(item))
            expect(oracleAllows(sealed, item), `${markup(item)} runs under ${own.join(' | ')}, so the sealed policy ${sealed} must allow it`).toBe(true)
        }
        // Code before the page's own metas is not subject to them.
        for (const item of early) expect(oracleAllows(sealed, item)).toBe(true)
        const again = await sealHtml(page.html, { config: { eventHandlers: handlers, ...(config ? { policy: config } : {}) } })
        expect(again.html).toBe(page.html)
      }),
      { numRuns: propertyRuns(1500) },
    )
  })
})
