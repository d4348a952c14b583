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

const ASSETS: Record<string, string> = { 'a.js': 'console.log(1)', 'b.css': 'p{}', 'dir/c.js': '2' }
const readAsset = async (path: string) => (path in ASSETS ? Buffer.from(ASSETS[path]!) : undefined)

const char = fc.constantFrom('a', 'Z', '0', ' ', '\t', '\n', '\r\n', '\r', '\0', '\f', 'é', '日', '😀', '\u2028', '\uFEFF', '<', '>', '/', '&', '&amp;', '&lt;', '&#0;', '&#x110000;', '&nbsp', '"', "'", '=', '`', '-', '--', '!', '?', ']]>', '\\')
const text = fc.array(char, { maxLength: 24 }).map((parts) => parts.join(''))
const tagName = fc.constantFrom('script', 'SCRIPT', 'style', 'link', 'meta', 'base', 'div', 'p', 'table', 'tr', 'td', 'select', 'option', 'textarea', 'title', 'svg', 'math', 'foreignObject', 'mi', 'template', 'noscript', 'iframe', 'xmp', 'noembed', 'head', 'body', 'html', 'frameset', 'img', 'a', 'form', 'button', 'g', 'desc', 'annotation-xml', 'plaintext', 'noframes', 'object', 'embed')
const attrName = fc.constantFrom('src', 'href', 'rel', 'type', 'style', 'onclick', 'onerror', 'ONLOAD', 'integrity', 'crossorigin', 'as', 'charset', 'http-equiv', 'content', 'srcdoc', 'language', 'xlink:href', 'x', 'nonce', 'encoding')
const attrValue = fc.oneof(
  text,
  fc.constantFrom('a.js', '/a.js', 'dir/c.js', '../a.js?x#y', 'b.css', 'stylesheet', 'modulepreload', 'preload', 'script', 'style', 'module', 'importmap', 'text/javascript', 'application/ld+json', 'utf-8', 'javascript:alert(1)', ' JaVaScRiPt:x', 'https://cdn.example/x.js', 'data:,x', 'text/html'),
  fc.integer({ min: 1000, max: 20000 }).map((n) => 'x'.repeat(n)),
)
const attribute = fc.tuple(attrName, attrValue, fc.constantFrom('"', "'", '')).map(([name, value, quote]) => (quote ? ` ${name}=${quote}${value.replaceAll(quote, '')}${quote}` : ` ${name}=${value.replace(/[\s>"'=<`]/g, '') || 'x'}`))
const token = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(tagName, fc.array(attribute, { maxLength: 3 }), fc.boolean()).map(([name, attrs, selfClose]) => `<${name}${attrs.join('')}${selfClose ? '/' : ''}>`) },
  { weight: 3, arbitrary: tagName.map((name) => `</${name}>`) },
  { weight: 4, arbitrary: text },
  { weight: 1, arbitrary: fc.constantFrom('<!-- c -->', '<!--', '<![CDATA[x]]>', '<!doctype html>', '<', '</', '<div', '<script>', '<?php ?>', '<meta charset="utf-8">', '<meta charset=windows-1252>') },
)
const hostileHtml = fc.tuple(fc.boolean(), fc.array(token, { maxLength: 40 })).map(([bom, tokens]) => (bom ? '\uFEFF' : '') + tokens.join(''))

type Node = DefaultTreeAdapterMap['node']
type Element = DefaultTreeAdapterMap['element']
const META = /<meta http-equiv="Content-Security-Policy" content="[^"]*">/

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
        // Only csp-seal's own edits differ: the meta tag, integrity attributes, and removed CSP metas (none generated here).
        const meta = META.exec(page.html)?.[0]
        const stripped = page.html.replace(meta ?? '', '').replace(/ integrity="sha384-[A-Za-z0-9+/=]+"/g, '')
        if (!/http-equiv=["']?content-security-policy/i.test(html)) expect(stripped).toBe(html)
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
        const metaIndex = all.findIndex((e) => e.tagName === 'meta' && e.attrs.some((a) => a.name === 'http-equiv' && a.value === 'Content-Security-Policy'))
        expect(metaIndex).toBeGreaterThanOrEqual(0)
        expect(all[metaIndex]!.parentNode && 'tagName' in all[metaIndex]!.parentNode ? all[metaIndex]!.parentNode.tagName : '').toBe('head')
        const firstLoading = all.findIndex((e) => e.namespaceURI === 'http://www.w3.org/1999/xhtml' && (e.tagName === 'script' || e.tagName === 'style' || e.tagName === 'link'))
        if (firstLoading !== -1) expect(metaIndex).toBeLessThan(firstLoading)
      }),
      { numRuns: 5000 },
    )
    expect(sealedCount).toBeGreaterThan(2500)
  }, 240_000)
})

describe('fuzzing policies', () => {
  const anyChar = fc.oneof(fc.constantFrom(';', ',', ' ', '\n', "'", '"', ':', '/', '*', '-', '=', '\0', 'é', '\u00a0'), fc.string({ maxLength: 3 }))
  const noisyPolicy = fc.array(fc.oneof(anyChar, fc.constantFrom("script-src", "'self'", "'nonce-abc'", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='", 'default-src', 'https://a.example', 'img-src', 'data:', "'unsafe-inline'", 'report-uri', '/r')), { maxLength: 20 }).map((parts) => parts.join(''))

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
      { numRuns: 3000 },
    )
  })

  it('a CSP meta already in the page is merged when valid, and otherwise named in the error', async () => {
    await fc.assert(
      fc.asyncProperty(noisyPolicy, async (content) => {
        const attr = content.replace(/&/g, '&amp;').replace(/"/g, '&quot;')
        const html = `<head><meta http-equiv="Content-Security-Policy" content="${attr}"><script>1</script></head>`
        try {
          const page = await sealHtml(html, { file: 'p.html' })
          expect(page.html.match(/http-equiv/g)).toHaveLength(1)
          expect(serializePolicy(parsePolicy(serializePolicy(page.policy)))).toBe(serializePolicy(page.policy))
        } catch (error) {
          expect(error).toBeInstanceOf(SealError)
          expect((error as SealError).problems[0]!.file).toBe('p.html')
          expect((error as SealError).problems[0]!.line).toBe(1)
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe('hashes agree with an independent implementation', () => {
  it('inline script hashes are sha256 over the parser text, UTF-8 encoded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((t) => !/<\/script|<!--|<script/i.test(t) && t !== ''), async (body) => {
        const page = await sealHtml(`<script>${body}</script>`)
        const browserText = body.replace(/\r\n?/g, '\n').replace(/\0/g, '\uFFFD')
        expect(page.scriptHashes).toEqual([`'sha256-${createHash('sha256').update(Buffer.from(browserText, 'utf8')).digest('base64')}'`])
      }),
      { numRuns: 1000 },
    )
  })
})
