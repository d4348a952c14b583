/**
 * The browser as the oracle for csp-seal's hash rules: generated pages full of parser corner cases are
 * sealed and loaded in Chromium; every inline script csp-seal's parser found must run, every inline
 * style must apply, and nothing may raise a violation. A hash rule that disagrees with the browser fails here.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DefaultTreeAdapterMap } from 'parse5'
import { parse, scanHtml } from '../src/html/scan.js'
import { sealDirectory } from '../src/index.js'
import { describeVisit, launchBrowser, visit, type Browser } from './support/browser.js'
import { removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

// Script bodies mix what parsers normalise differently: CR/CRLF, NUL, lone surrogates are avoided (not UTF-8).
const noise = fc
  .array(
    fc.constantFrom('a', ' ', '\r\n', '\r', '\n', '\t', '\0', 'é', '日本', '😀', '\u2028', '<', '>', '&amp;', '&lt;', '"', '\\', '</scr" + "ipt>', '<!-'),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''))

type Block = (id: string, noise: string) => string
const comment = (n: string) => `/*${n.replace(/\*\//g, '')}*/`
const blocks: Block[] = [
  (id, n) => `<script>${comment(n)}(window.__ran = window.__ran || []).push('${id}')</script>`,
  (id, n) => `<SCRIPT type="module">${comment(n)}(window.__ran = window.__ran || []).push('${id}')</SCRIPT>`,
  (id, n) => `<script language="javascript">//${n.replace(/[\r\n\u2028]/g, '')}\r\n(window.__ran = window.__ran || []).push('${id}')</script>`,
  // SVG scripts: the text is decoded (entities count once decoded), CDATA is allowed.
  (id, n) =>
    `<svg><script>${comment(n).replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'))}(window.__ran = window.__ran || []).push(&apos;${id}&apos;)</script></svg>`,
  (id) => `<svg><script><![CDATA[(window.__ran = window.__ran || []).push('${id}')]]></script></svg>`,
  // Each NUL of a run becomes its own U+FFFD, in foreign text and in CDATA.
  (id) => `<svg><script>/*\0\0*/<![CDATA[/*\0\0\0*/]]>(window.__ran = window.__ran || []).push('${id}')</script></svg>`,
  (id) => `<svg><style>/*\0\0*/#${id}{margin-left:7px}</style></svg><p id="${id}">svg-styled</p>`,
  (id) => `<svg><foreignObject><script>(window.__ran = window.__ran || []).push('${id}')</script></foreignObject></svg>`,
  (id, n) => `<div><p>${n.replace(/[<&\0]/g, '')}<table><tr><td><script>(window.__ran = window.__ran || []).push('${id}')</script></td></tr></table></div>`,
  (id) => `<template><script>(window.__ran = window.__ran || []).push('${id}')</script></template>`,
  (id) => `<noscript><script>(window.__ran = window.__ran || []).push('${id}')</script></noscript>`,
  // A MathML <script> is not a script: it never runs, and gets no hash (a run would show as a violation too).
  (id) => `<math><mi>x</mi><script>(window.__ran = window.__ran || []).push('${id}')</script></math>`,
  (id, n) => `<style>${comment(n).replace(/<\//g, '')}#${id}{margin-left:7px}</style><p id="${id}">styled</p>`,
  (id, n) => `<p id="${id}" style="margin-left:7px;${comment(n).replace(/["&<]/g, '')}">attr-styled</p>`,
  // Select content is parsed in body (customizable select): its styles, attributes and SVG scripts apply.
  (id) => `<select><style>#${id}{margin-left:7px}</style><option>o</option></select><p id="${id}">select-styled</p>`,
  (id) =>
    `<select><option>o</option><div id="${id}" style="margin-left:7px">in select</div><svg><script>(window.__ran = window.__ran || []).push(&apos;${id}&apos;)</script></svg></select>`,
  (id) => `<script type="application/ld+json">{"id":"${id}"}</script>`,
]
const page = fc.array(fc.tuple(fc.nat(blocks.length - 1), noise), { minLength: 3, maxLength: 10 })

const PAGES = 24
let browser: Browser
let server: StaticServer
let dir: string
const sources: string[] = []

beforeAll(async () => {
  browser = await launchBrowser()
  dir = await mkdtemp(join(tmpdir(), 'csp-seal-oracle-'))
  await mkdir(join(dir, 'pages'))
  const samples = fc.sample(page, { numRuns: PAGES, seed: 20261122 })
  for (const [n, sample] of samples.entries()) {
    const body = sample.map(([kind, text], i) => blocks[kind]!(`p${n}b${i}`, text)).join('\n')
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>oracle ${n}</title></head><body>\n${body}\n</body></html>`
    sources.push(html)
    await writeFile(join(dir, 'pages', `${n}.html`), html)
  }
  // With scripting off, <noscript> content is HTML, and so is a <noscript> nested in it.
  await writeFile(
    join(dir, 'pages', 'noscript.html'),
    '<!doctype html><html><head><meta charset="utf-8"></head><body><noscript><noscript><style>#ns1{margin-left:7px}</style><p id="ns2" style="margin-left:5px">n</p></noscript></noscript><p id="ns1">x</p></body></html>',
  )
  // An SVG <script href> gets integrity like <script src>; Chromium checks it.
  await writeFile(join(dir, 'pages', 'svg.js'), "(window.__ran = window.__ran || []).push('svg')")
  await writeFile(
    join(dir, 'pages', 'svg-href.html'),
    '<!doctype html><html><head><meta charset="utf-8"></head><body><svg><script href="svg.js"></script><script xlink:href="/pages/svg.js"></script></svg></body></html>',
  )
  await sealDirectory(dir)
  server = await startStaticServer(dir)
})
afterAll(async () => {
  await server?.close()
  await browser?.close()
  await removeDir(dir)
})

describe('Chromium agrees with every hash csp-seal computes', () => {
  for (let n = 0; n < PAGES; n++) {
    it(`generated page ${n}: every script the parser found ran, every style applied, zero violations`, async () => {
      // What the parser says will run: inline scripts in the document itself (not <template>; scripts in
      // <noscript> and MathML scripts are in neverRuns).
      const scan = scanHtml(sources[n]!)
      const expected = scan.inline.filter((c) => c.element === 'script' && c.tag.context === 'document').map((c) => /p\d+b\d+/.exec(c.text)![0])
      const styled = [...sources[n]!.matchAll(/id="(p\d+b\d+)"/g)].map((m) => m[1]!)
      const v = await visit(browser, `${server.origin}/pages/${n}.html`)
      try {
        expect([...v.ran].sort(), describeVisit(v)).toEqual(expected.sort())
        for (const id of styled) expect(await v.page.$eval(`#${id}`, (e) => getComputedStyle(e).marginLeft), id).toBe('7px')
        expect(v.violations, describeVisit(v)).toEqual([])
        expect(v.pageErrors, describeVisit(v)).toEqual([])
      } finally {
        await v.close()
      }
    })
  }
})

describe('Chromium with scripting off agrees with the hashes of <noscript> content', () => {
  it('nested <noscript>: its style element and style attribute apply, no CSP block', async () => {
    const v = await visit(browser, `${server.origin}/pages/noscript.html`, { context: { javaScriptEnabled: false } })
    try {
      expect(await v.page.$eval('#ns1', (e) => getComputedStyle(e).marginLeft)).toBe('7px')
      expect(await v.page.$eval('#ns2', (e) => getComputedStyle(e).marginLeft)).toBe('5px')
      expect(v.cspConsoleErrors, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })
})

describe('Chromium loads SVG <script href> sealed with integrity', () => {
  it('href and xlink:href: integrity added, both run, no violation or integrity error', async () => {
    const v = await visit(browser, `${server.origin}/pages/svg-href.html`)
    try {
      expect(await v.page.$$eval('script[integrity]', (list) => list.length)).toBe(2)
      expect(v.ran, describeVisit(v)).toEqual(['svg', 'svg'])
      expect([...v.violations, ...v.integrityErrors], describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })
})

/**
 * Where parse5 8 follows an older standard than Chromium, csp-seal's parser is made to agree: select content parsed
 * in body (customizable select), NULs in HTML text dropped. Chromium's own parser (DOMParser, scripting off) must
 * build the same tree on pages full of those constructs.
 */
describe("Chromium's parser builds the trees csp-seal scans", () => {
  const tags = [
    'select',
    'select',
    'option',
    'option',
    'optgroup',
    'hr',
    'input',
    'input type=hidden',
    'keygen',
    'textarea',
    'div',
    'p',
    'span',
    'b style=x',
    'i',
    'a href=y',
    'li',
    'ul',
    'dd',
    'h1',
    'button',
    'table',
    'tr',
    'td',
    'caption',
    'style',
    'svg',
    'math',
    'mi',
    'noscript',
    'form',
    'datalist',
    'selectedcontent',
    'pre',
    'nobr',
    'object',
    'br',
    'img',
    'xmp',
  ]
  const piece = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...tags).map((t) => `<${t}>`) },
    { weight: 3, arbitrary: fc.constantFrom(...tags).map((t) => `</${t.split(' ')[0]}>`) },
    { weight: 2, arbitrary: fc.constantFrom('x', ' ', '\n', '\0', '\0\n') },
  )
  const pageOf = fc
    .tuple(fc.constantFrom('', '<!DOCTYPE html>', '\0<!DOCTYPE html>'), fc.array(piece, { minLength: 1, maxLength: 16 }))
    .map(([doctype, pieces]) => doctype + pieces.join(''))

  type TreeNode = DefaultTreeAdapterMap['node']
  /** One line per node: depth, then the element (namespace, name, sorted attributes) or the text. Skips <selectedcontent>'s clone. */
  const lines = (node: TreeNode, depth = 0, out: string[] = []): string[] => {
    const children = 'content' in node && node.nodeName === 'template' ? node.content.childNodes : 'childNodes' in node ? node.childNodes : []
    for (const child of children) {
      if (child.nodeName === '#text') out.push(`${depth} ${JSON.stringify((child as DefaultTreeAdapterMap['textNode']).value)}`)
      if (!('tagName' in child)) continue
      const attrs = child.attrs
        .map((a) => `${a.prefix ? `${a.prefix}:` : ''}${a.name}=${JSON.stringify(a.value)}`)
        .sort()
        .join(' ')
      out.push(`${depth} ${child.namespaceURI} ${child.tagName} ${attrs}`)
      if (child.tagName !== 'selectedcontent') lines(child, depth + 1, out)
    }
    return out
  }

  it('on 1,000 generated pages of <select> content and NULs', async () => {
    const pages = fc.sample(pageOf, { numRuns: 1000, seed: 20260518 })
    const context = await browser.newContext()
    try {
      const page = await context.newPage()
      const trees = await page.evaluate(
        (sources) =>
          sources.map((source) => {
            const out: string[] = []
            const walk = (node: Node, depth: number) => {
              const children = node instanceof HTMLTemplateElement ? node.content.childNodes : node.childNodes
              for (const child of Array.from(children)) {
                if (child instanceof Text) out.push(`${depth} ${JSON.stringify(child.data)}`)
                if (!(child instanceof Element)) continue
                const attrs = Array.from(child.attributes)
                  .map((a) => `${a.name}=${JSON.stringify(a.value)}`)
                  .sort()
                  .join(' ')
                out.push(`${depth} ${child.namespaceURI} ${child.localName} ${attrs}`)
                if (child.localName !== 'selectedcontent') walk(child, depth + 1)
              }
            }
            walk(new DOMParser().parseFromString(source, 'text/html'), 0)
            return out
          }),
        pages,
      )
      for (const [i, source] of pages.entries()) expect(lines(parse(source, { scriptingEnabled: false })), JSON.stringify(source)).toEqual(trees[i])
    } finally {
      await context.close()
    }
  })
})
