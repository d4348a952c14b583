/**
 * The pure nonce transform of the server runtime (`applyNonce`): the only bytes it changes are the nonce
 * attributes it inserts at the manifest's slots and the policy meta it swaps for the csp-nonce meta; the
 * headers gain `'nonce-…'` where the policy's fallback rules say (never beside the user's 'unsafe-inline'); anything that does not match the manifest is served
 * hash-only.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { parse, type DefaultTreeAdapterMap } from 'parse5'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { manifestPage, parsePolicy, resolveConfig, sealDirectory, sealHtml, type CspSealConfig, type Manifest, type ManifestPage } from '../src/index.js'
import { applyNonce, generateNonce, isValidNonce, nonceMeta, policyWithNonce } from '../src/server/index.js'
import { copyFixture, removeDir } from './support/sites.js'

type Element = DefaultTreeAdapterMap['element']
type Node = DefaultTreeAdapterMap['node']

const NONCE = 'q3Lp0Y2VxK9cT4mZb8WnJg=='

/** Every element of the document tree (template contents stay out: they are inert). */
function elements(html: string): Element[] {
  const found: Element[] = []
  const walk = (node: Node) => {
    if ('tagName' in node) found.push(node)
    if ('childNodes' in node) for (const child of node.childNodes) walk(child)
  }
  walk(parse(html))
  return found
}
const attr = (element: Element, name: string) => element.attrs.find((a) => a.name === name)?.value

/** The elements the runtime must give the nonce to: styles, stylesheet/preload links, external scripts. */
function needsNonce(element: Element): boolean {
  if (element.tagName === 'style') return true
  if (element.tagName === 'script') {
    const type = (attr(element, 'type') ?? '').trim().toLowerCase()
    return attr(element, 'src') !== undefined && ['', 'module', 'text/javascript'].includes(type)
  }
  if (element.tagName === 'link') {
    const rel = (attr(element, 'rel') ?? '').toLowerCase().split(/\s+/)
    return rel.includes('stylesheet') || rel.includes('modulepreload') || (rel.includes('preload') && ['style', 'script'].includes(attr(element, 'as') ?? ''))
  }
  return false
}

/** Undoes exactly what applyNonce may do; must give back the sealed bytes. */
function undo(body: Uint8Array, sealed: Uint8Array, page: ManifestPage, nonce: string): Buffer {
  const slots = page.nonceSlots
  const meta = typeof slots.meta === 'number' ? '' : Buffer.from(sealed.subarray(slots.meta[0], slots.meta[1])).toString('utf8')
  const html = Buffer.from(body).toString('utf8')
  expect(html.split(nonceMeta(nonce)).length).toBe(2)
  return Buffer.from(html.replace(nonceMeta(nonce), meta).replaceAll(` nonce="${nonce}"`, ''))
}

function expectNoncedExactly(html: string, nonce: string) {
  const all = elements(html)
  const metas = all.filter((e) => e.tagName === 'meta' && attr(e, 'property') === 'csp-nonce')
  expect(metas.map((e) => attr(e, 'nonce'))).toEqual([nonce])
  // csp-seal's policy meta is swapped for the nonce meta; a page's own CSP meta (no marker) stays.
  expect(
    all.filter((e) => e.tagName === 'meta' && /content-security-policy/i.test(attr(e, 'http-equiv') ?? '') && attr(e, 'data-csp-seal') !== undefined),
  ).toEqual([])
  for (const element of all) {
    if (element === metas[0]) continue
    const value = attr(element, 'nonce')
    if (needsNonce(element)) expect(value, `<${element.tagName}> needs the nonce`).toBe(nonce)
    else expect(value, `<${element.tagName}> must not get a nonce`).toBeUndefined()
  }
}

describe('applyNonce on the sealed example site', () => {
  let dir: string
  let manifest: Manifest
  beforeAll(async () => {
    dir = await copyFixture('example-site')
    await sealDirectory(dir, {})
    manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')) as Manifest
  })
  afterAll(async () => {
    await removeDir(dir)
  })

  it('inserts the nonce at every slot, swaps the meta, and changes no other byte', async () => {
    expect(Object.keys(manifest.pages).length).toBe(11)
    for (const [file, page] of Object.entries(manifest.pages)) {
      const sealed = await readFile(join(dir, file))
      const result = applyNonce(sealed, page, NONCE)
      expect(result.fallback, file).toBeUndefined()
      expect(result.nonce).toBe(NONCE)
      const html = Buffer.from(result.body).toString('utf8')
      expect(html.split(` nonce="${NONCE}"`).length - 1, file).toBe(page.nonceSlots.tags.length + 1)
      expect(undo(result.body, sealed, page, NONCE).equals(sealed), file).toBe(true)
      expectNoncedExactly(html, NONCE)
    }
  })

  it("sends the page's headers with the nonce in script-src and style-src, no-store, and nothing else changed", async () => {
    const page = manifest.pages['index.html']!
    const result = applyNonce(await readFile(join(dir, 'index.html')), page, NONCE)
    const sent = parsePolicy(result.headers['Content-Security-Policy']!.replaceAll(`'nonce-${NONCE}'`, ''))
    expect(sent).toEqual(parsePolicy(page.policy))
    const withNonce = parsePolicy(page.policy)
    for (const directive of ['script-src', 'style-src']) withNonce.get(directive)!.push(`'nonce-${NONCE}'`)
    expect(result.headers['Content-Security-Policy']).toBe([...withNonce].map(([name, values]) => [name, ...values].join(' ')).join('; '))
    expect(result.headers['Cache-Control']).toBe('no-store')
    expect(result.headers['Content-Type']).toBe('text/html; charset=utf-8')
    expect(Object.keys(result.headers).map((h) => h.toLowerCase())).not.toContain('etag')
    expect(Object.keys(result.headers).map((h) => h.toLowerCase())).not.toContain('last-modified')
  })

  it('serves a file that is not the one the manifest describes hash-only, byte for byte, with the manifest headers', async () => {
    const page = manifest.pages['index.html']!
    const original = await readFile(join(dir, 'index.html'))
    const tampered = Buffer.from(original.toString('utf8').replace('index:body-inline', 'index:body-inlinE'))
    const result = applyNonce(tampered, page, NONCE)
    expect(result.fallback).toBe('digest-mismatch')
    expect(result.nonce).toBeUndefined()
    expect(result.body).toBe(tampered)
    expect(result.headers).toEqual({ ...page.headers, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' })
    expect(JSON.stringify(result.headers)).not.toContain('nonce-')
  })

  it('refuses slots that do not point at script, style or link tags, or a meta range that is not the policy meta', async () => {
    const page = manifest.pages['index.html']!
    const sealed = await readFile(join(dir, 'index.html'))
    const [first, ...rest] = page.nonceSlots.tags
    const meta = page.nonceSlots.meta as [number, number]
    const variants: ManifestPage['nonceSlots'][] = [
      { ...page.nonceSlots, tags: [first! + 1, ...rest] },
      { ...page.nonceSlots, tags: [...rest, first!] },
      { ...page.nonceSlots, tags: [first!, first!, ...rest] },
      { ...page.nonceSlots, tags: [sealed.length + 5] },
      { ...page.nonceSlots, meta: [meta[0] + 1, meta[1]] },
      { ...page.nonceSlots, meta: [meta[0], meta[1] - 1] },
      { ...page.nonceSlots, meta: -1 },
      { ...page.nonceSlots, tags: [meta[0] + 5] },
    ]
    for (const nonceSlots of variants) {
      const result = applyNonce(sealed, { ...page, nonceSlots }, NONCE)
      expect(result.fallback, JSON.stringify(nonceSlots)).toBe('bad-slots')
      expect(result.body).toBe(sealed)
    }
  })

  it('refuses a nonce that is short or could break out of the attribute', async () => {
    const page = manifest.pages['index.html']!
    const sealed = await readFile(join(dir, 'index.html'))
    for (const bad of [
      '',
      'abc',
      'AAAAAAAAAAAAAAAAAAAAAA"><script>x()</script>',
      'AAAAAAAAAAAAAAAAAAAAAA onload=x',
      "AAAAAAAAAAAAAAAAAAAAAA'",
      'AAAAAAAAAAAAAAAAAAAAAA;script-src *',
    ]) {
      expect(() => applyNonce(sealed, page, bad), bad).toThrow(TypeError)
      expect(isValidNonce(bad)).toBe(false)
    }
  })
})

describe('policyWithNonce', () => {
  const add = (policy: string) => policyWithNonce(policy, NONCE)
  const n = `'nonce-${NONCE}'`

  it('adds the nonce to script-src and style-src', () => {
    expect(add("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'")).toBe(
      `default-src 'self'; script-src 'self' ${n}; style-src 'self' ${n}; img-src 'self'`,
    )
  })

  it('never adds it where the user kept unsafe-inline (a nonce would switch it off)', () => {
    expect(add("script-src 'self'; style-src 'self' 'unsafe-inline'")).toBe(`script-src 'self' ${n}; style-src 'self' 'unsafe-inline'`)
    expect(add("default-src 'self' 'unsafe-inline'")).toBe("default-src 'self' 'unsafe-inline'")
  })

  it("never turns a 'none' the user wrote for scripts or styles into an allowance for run-time code", () => {
    expect(add("script-src 'none'; style-src 'self'")).toBe(`script-src 'none'; style-src 'self' ${n}`)
    expect(add("default-src 'self'; style-src-elem 'none'")).toBe(`default-src 'self'; style-src-elem 'none'; script-src 'self' ${n}`)
    // default-src 'none' is a default csp-seal refines (as it does with hashes): the nonce goes into a script-src made from it.
    expect(add("default-src 'none'; style-src 'self'")).toBe(`default-src 'none'; style-src 'self' ${n}; script-src ${n}`)
  })

  it('follows fallback: *-src-elem when the user set it, else *-src created from default-src', () => {
    expect(add("script-src 'self'; script-src-elem 'self'; style-src-elem 'self'")).toBe(
      `script-src 'self'; script-src-elem 'self' ${n}; style-src-elem 'self' ${n}`,
    )
    expect(add("default-src 'self' https://cdn.example")).toBe(
      `default-src 'self' https://cdn.example; script-src 'self' https://cdn.example ${n}; style-src 'self' https://cdn.example ${n}`,
    )
    // The elements' directive keeps unsafe-inline: nothing; the attribute directive is not the elements' business.
    expect(add("style-src 'self'; style-src-elem 'self' 'unsafe-inline'; style-src-attr 'unsafe-inline'")).toBe(
      "style-src 'self'; style-src-elem 'self' 'unsafe-inline'; style-src-attr 'unsafe-inline'",
    )
  })

  it('leaves a policy that does not restrict scripts or styles alone, and keeps header-only directives', () => {
    expect(add("img-src 'self'; frame-ancestors 'none'; report-uri /csp")).toBe("img-src 'self'; frame-ancestors 'none'; report-uri /csp")
  })

  it('goes into report-only headers too, and leaves Reporting-Endpoints and extra headers as they are', async () => {
    const config: CspSealConfig = { reportOnly: true, report: { uri: 'https://example.com/csp' }, extraHeaders: { 'X-Frame-Options': 'DENY' } }
    const sealed = await sealHtml('<!doctype html><html><head><meta charset="utf-8"><style>p{}</style></head><body></body></html>', { config })
    const page = manifestPage(sealed, resolveConfig(config))
    expect(page.nonceSlots.meta).toEqual(expect.any(Number))
    const result = applyNonce(Buffer.from(sealed.html), page, NONCE)
    expect(result.headers['Content-Security-Policy']).toBeUndefined()
    expect(result.headers['Content-Security-Policy-Report-Only']).toContain(`style-src 'self' ${sealed.styleHashes[0]} ${n}`)
    expect(result.headers['Reporting-Endpoints']).toBe(page.headers['Reporting-Endpoints'])
    expect(result.headers['X-Frame-Options']).toBe('DENY')
    // No policy meta in a report-only page: the csp-nonce meta is inserted where the policy meta would go.
    expect(Buffer.from(result.body).toString()).toContain(`<meta charset="utf-8">${nonceMeta(NONCE)}<style nonce="${NONCE}">`)
  })
})

describe('generateNonce', () => {
  it('gives 128 random bits, base64, never the same twice', () => {
    const nonces = Array.from({ length: 20_000 }, generateNonce)
    expect(new Set(nonces).size).toBe(nonces.length)
    for (const nonce of nonces.slice(0, 100)) {
      expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/)
      expect(Buffer.from(nonce, 'base64').length).toBe(16)
      expect(isValidNonce(nonce)).toBe(true)
    }
  })
})

// Random pages: everything the scanner knows about, plus text and markup that only looks like it.
const text = fc.constantFrom('plain', 'ünïcödé ✓', '日本語', '🎉 emoji', 'a > b', '&lt;script&gt;', '\r\n', '\n', '')
const fragment = fc.oneof(
  text.map((t) => `<p title="${t.replace(/"/g, '')} >">${t}</p>`),
  text.map((t) => `<script>var s = ${JSON.stringify(t)};</script>`),
  fc.constantFrom(
    '<script src="a.js"></script>',
    '<script type="module" src="b.js"></script>',
    '<SCRIPT SRC=a.js></SCRIPT>',
    '<script defer\nsrc="a.js"></script>',
    '<style>p { color: red }</style>',
    '<STYLE TYPE=text/css>q{}</STYLE>',
    '<style\r\nmedia="screen">r{}</style>',
    '<link rel="stylesheet" href="s.css">',
    '<LINK REL=stylesheet HREF=s.css>',
    '<link rel=preload as=style href=s.css>',
    '<link rel="modulepreload" href="b.js">',
    '<link rel="icon" href="s.css">',
    '<!-- <script src="a.js"></script> <style>x{}</style> -->',
    '<svg><style>circle{}</style><script>1</script></svg>',
    '<template><style>t{}</style><script src="a.js"></script></template>',
    '<noscript><style>n{}</style></noscript>',
    '<script type="application/ld+json">{"a":1}</script>',
    '<p style="margin:0">x</p>',
    '<textarea><style>no</style></textarea>',
  ),
)
const pageArb = fc.record({
  headMeta: fc.constantFrom('', '<meta http-equiv="Content-Security-Policy" content="img-src \'self\' data:">'),
  head: fc.array(fragment, { maxLength: 5 }),
  body: fc.array(fragment, { maxLength: 8 }),
  withHead: fc.boolean(),
  crlf: fc.boolean(),
  config: fc.record({
    meta: fc.boolean(),
    reportOnly: fc.boolean(),
    policy: fc.constantFrom(
      undefined,
      "default-src 'self'",
      "script-src 'self'; style-src 'self' 'unsafe-inline'",
      "default-src 'self'; style-src-elem 'self'; style-src-attr 'unsafe-inline'",
    ),
  }),
  nonce: fc.uint8Array({ minLength: 16, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('base64')),
})
const ASSETS: Record<string, string> = { 'a.js': 'window.a = 1', 'b.js': 'export const b = 2', 's.css': 'p { margin: 0 }' }

describe('applyNonce, property', () => {
  it('on any sealed page, only the nonce attributes and the meta swap differ from the sealed bytes', async () => {
    await fc.assert(
      fc.asyncProperty(pageArb, async ({ headMeta, head, body, withHead, crlf, config, nonce }) => {
        let html = withHead
          ? `<!doctype html><html><head><meta charset="utf-8">${headMeta}${head.join('')}</head><body>${body.join('')}</body></html>`
          : `<!doctype html><meta charset=utf-8>${headMeta}${head.join('')}${body.join('')}`
        if (crlf) html = html.replace(/\n/g, '\r\n')
        const cleanConfig: CspSealConfig = { meta: config.meta, reportOnly: config.reportOnly, ...(config.policy ? { policy: config.policy } : {}) }
        const sealed = await sealHtml(html, { config: cleanConfig, readAsset: async (path) => (path in ASSETS ? Buffer.from(ASSETS[path]!) : undefined) })
        const page = manifestPage(sealed, resolveConfig(cleanConfig))
        const bytes = Buffer.from(sealed.html)
        const result = applyNonce(bytes, page, nonce)
        expect(result.fallback).toBeUndefined()
        const out = Buffer.from(result.body).toString('utf8')
        expect(out.split(` nonce="${nonce}"`).length - 1).toBe(page.nonceSlots.tags.length + 1)
        expect(undo(result.body, bytes, page, nonce).equals(bytes)).toBe(true)
        expectNoncedExactly(out, nonce)
        // Each policy header carries the nonce in exactly the directive that governs the family's elements,
        // unless that directive keeps 'unsafe-inline' or is 'none'.
        for (const [name, value] of Object.entries(result.headers)) {
          if (!/^content-security-policy/i.test(name)) continue
          const base = parsePolicy(value.replaceAll(` 'nonce-${nonce}'`, ''))
          const withNonce = value
            .split('; ')
            .filter((d) => d.includes(`'nonce-${nonce}'`))
            .map((d) => d.split(' ')[0])
          const expected: string[] = []
          for (const family of ['script', 'style']) {
            const governing = [`${family}-src-elem`, `${family}-src`, 'default-src'].find((d) => base.has(d))
            if (governing === undefined) continue
            const list = base.get(governing)!
            if (list.includes("'unsafe-inline'") || (governing !== 'default-src' && list.length === 1 && list[0] === "'none'")) continue
            expected.push(governing === `${family}-src-elem` ? governing : `${family}-src`)
          }
          expect(withNonce.sort(), value).toEqual(expected.sort())
        }
      }),
      { numRuns: 300 },
    )
  })
})
