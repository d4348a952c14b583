import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sealHtml, parsePolicy, serializePolicy, SealError, type RemoteIntegrity, type SealedPage } from '../src/index.js'
import { propertyRuns } from './support/property-runs.js'

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
const sri384 = (text: string) => `sha384-${createHash('sha384').update(text).digest('base64')}`
// csp-seal's own policy meta (marked); a page's own CSP meta has no marker.
const metaOf = (html: string) =>
  /<meta http-equiv="Content-Security-Policy" content="([^"]*)" data-csp-seal>/
    .exec(html)?.[1]
    ?.replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
const CHARSET = '<meta charset="utf-8">'
const metaPolicy = (page: SealedPage) => parsePolicy(metaOf(page.html)!)
const assets = (files: Record<string, string>) => async (path: string) => (path in files ? Buffer.from(files[path]!) : undefined)

describe('sealHtml: what gets hashed', () => {
  it('hashes inline scripts and styles exactly as the browser parses them', async () => {
    const html =
      '<!doctype html><html><head><meta charset="utf-8"><script>a\r\nb\rc\0d</script><style>p{}\r\n</style></head><body><svg><script>x &lt; y</script><style>r{fill:&#34;}</style></svg></body></html>'
    const page = await sealHtml(html)
    expect(page.scriptHashes).toEqual([sha256('a\nb\nc\uFFFDd'), sha256('x < y')])
    expect(page.styleHashes).toEqual([sha256('p{}\n'), sha256('r{fill:"}')])
    const policy = metaPolicy(page)
    expect(policy.get('script-src')).toEqual(["'self'", ...page.scriptHashes])
    expect(policy.get('style-src')).toEqual(["'self'", ...page.styleHashes])
  })

  it('hashes classic, module, importmap and speculationrules scripts but not data blocks', async () => {
    const html = [
      '<script>1</script>',
      '<script type="module">2</script>',
      '<script type="importmap">{"imports":{}}</script>',
      '<script type="speculationrules">{"prefetch":[]}</script>',
      '<script type="text/JavaScript ">3</script>',
      '<script language="javascript">4</script>',
      '<script type="application/ld+json">{"@type":"Thing"}</script>',
      '<script type="text/template"><b>5</b></script>',
      '<script language="vbscript">6</script>',
      '<script></script>',
    ].join('')
    const page = await sealHtml(html)
    expect(page.scriptHashes).toEqual(['1', '2', '{"imports":{}}', '{"prefetch":[]}', '3', '4'].map(sha256))
  })

  it('sees uppercase tags, unquoted attributes, template, noscript and srcdoc content', async () => {
    const html =
      '<HTML><HEAD><STYLE>a{}</STYLE><noscript><style>b{}</style></noscript></HEAD><BODY><template><script>t()</script></template><iframe srcdoc="<script>s()</script><p style=&quot;color:red&quot;>"></iframe><P STYLE=margin:0>x</P></BODY></HTML>'
    const page = await sealHtml(html)
    expect(page.styleHashes).toEqual([sha256('a{}'), sha256('b{}')])
    expect(page.scriptHashes).toEqual([sha256('t()'), sha256('s()')])
    expect(page.attributeHashes).toEqual([sha256('color:red'), sha256('margin:0')])
    expect(page.warnings.map((w) => w.code)).toContain('template-code')
    expect(metaPolicy(page).get('style-src-attr')).toEqual(["'unsafe-hashes'", sha256('color:red'), sha256('margin:0')])
  })

  it('reports event handlers and javascript: URLs with line numbers, and hashes handlers on request', async () => {
    const html = '<p>\n<button onclick="go()">x</button>\n<a href=" JavaScript:void(0)">y</a>'
    const reported = await sealHtml(html)
    expect(reported.warnings.filter((w) => w.code !== 'header-only-directive' && w.code !== 'charset-added').map((w) => [w.code, w.line])).toEqual([
      ['event-handler', 2],
      ['javascript-url', 3],
    ])
    expect(metaPolicy(reported).has('script-src-attr')).toBe(false)
    const hashed = await sealHtml(html, { config: { eventHandlers: 'hash' } })
    expect(metaPolicy(hashed).get('script-src-attr')).toEqual(["'unsafe-hashes'", sha256('go()')])
  })

  it('leaves style attributes to the policy when asked', async () => {
    const page = await sealHtml('<p style="color:red">x</p>', { config: { styleAttributes: 'policy' } })
    expect(page.attributeHashes).toEqual([])
    expect(metaPolicy(page).has('style-src-attr')).toBe(false)
  })

  it('uses sha384 or sha512 when configured', async () => {
    const page = await sealHtml('<script>x</script>', { config: { hashAlgorithm: 'sha512' } })
    expect(page.scriptHashes).toEqual([`'sha512-${createHash('sha512').update('x').digest('base64')}'`])
  })
})

describe('sealHtml: the meta tag', () => {
  it('goes right after <meta charset>, before scripts, styles and links', async () => {
    const page = await sealHtml(
      '<!doctype html><html><head><title>t</title><meta charset="utf-8"><link rel="icon" href="x.ico"><script>1</script></head></html>',
    )
    expect(page.html).toMatch(
      /^<!doctype html><html><head><title>t<\/title><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="[^"]+" data-csp-seal><link rel="icon"/,
    )
  })
  it('goes first in <head> when a script precedes <meta charset>', async () => {
    const page = await sealHtml('<head><script>1</script><meta charset=utf-8></head>')
    expect(page.html.startsWith('<head><meta http-equiv="Content-Security-Policy"')).toBe(true)
    expect(page.warnings.map((w) => w.code)).not.toContain('charset-added')
  })
  it('goes where the parser opens <head> on a page without one, after the doctype', async () => {
    const page = await sealHtml('<!DOCTYPE html>\n<title>x</title><script>1</script><p>hi')
    expect(page.html).toMatch(
      /^<!DOCTYPE html>\n<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="[^"]+" data-csp-seal><title>x<\/title>/,
    )
    const bare = await sealHtml('<!doctype html><p>hi</p>')
    expect(bare.html).toMatch(/^<!doctype html><meta charset="utf-8"><meta http-equiv=/)
  })
  it('keeps a BOM and puts the meta in <head>, not <body>', async () => {
    const page = await sealHtml('\uFEFF<!doctype html><html><head><meta charset="utf-8"><script>1</script></head><body></body></html>')
    expect(page.html.startsWith('\uFEFF<!doctype html><html><head><meta charset="utf-8"><meta http-equiv')).toBe(true)
    expect(page.scriptHashes).toEqual([sha256('1')])
  })
  it("keeps a page's own CSP metas byte for byte, as policies of their own, and promotes nothing of them to headers", async () => {
    const own = `<meta http-equiv="content-security-policy" content="img-src 'self' data:; connect-src https://api.example.com; frame-ancestors *; report-uri https://third-party.example/r">`
    const reportOnly = `<meta http-equiv="Content-Security-Policy-Report-Only" content="script-src 'none'; report-uri https://third-party.example/r">`
    const html = `<head><meta charset="utf-8">${own}${reportOnly}<script>1</script></head>`
    const page = await sealHtml(html, { config: { policy: "default-src 'self'; img-src 'self'", policyBase: 'none' } })
    // csp-seal's policy is the user's plus the hashes: nothing of the page's own policy is merged into it.
    expect(serializePolicy(page.policy)).toBe(`default-src 'self'; img-src 'self'; script-src 'self' ${sha256('1')}`)
    expect(page.html).toBe(
      html.replace(CHARSET, `${CHARSET}<meta http-equiv="Content-Security-Policy" content="${serializePolicy(page.policy)}" data-csp-seal>`),
    )
    expect(page.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['page-policy-kept', 'meta-ignored-directive', 'report-only-meta']))
    expect(page.warnings.find((w) => w.code === 'meta-ignored-directive')!.message).toContain('frame-ancestors, report-uri')
    // Sealing again replaces only csp-seal's own meta: nothing changes.
    const again = await sealHtml(page.html, { config: { policy: "default-src 'self'; img-src 'self'", policyBase: 'none' } })
    expect(again.html).toBe(page.html)
  })
  it("reports inline code the page's own policy blocks, and adds no hash for it", async () => {
    const html = `<head><meta charset="utf-8"><script>before()</script><meta http-equiv="Content-Security-Policy" content="script-src 'self' ${sha256('allowed()')}; style-src 'self' 'unsafe-inline'"></head><body>\n<script>blocked()</script><script>allowed()</script><style>p{}</style><p style="color:red" onclick="go()">x</p></body>`
    const page = await sealHtml(html, { config: { eventHandlers: 'hash' } })
    // A script before the meta is not subject to it; 'unsafe-inline' lets every style through; the handler needs its hash.
    expect(page.scriptHashes).toEqual([sha256('before()'), sha256('allowed()')])
    expect(page.styleHashes).toEqual([sha256('p{}')])
    expect(page.attributeHashes).toEqual([sha256('color:red')])
    const blocked = page.warnings.filter((w) => w.code === 'blocked-by-page-policy')
    expect(blocked.map((w) => [w.line, w.element])).toEqual([
      [2, '<script>'],
      [2, '<p style="color:red" onclick="go()">'],
    ])
    expect(blocked[0]!.message).toMatch(/^this inline <script> is blocked by the page's own Content-Security-Policy meta \(line 1\)/)
    expect(blocked[1]!.message).toMatch(/^the onclick= handler is blocked/)
  })
  it("never turns a page's enforced policy report-only", async () => {
    const own = `<meta http-equiv="Content-Security-Policy" content="script-src 'none'">`
    const page = await sealHtml(`<head><meta charset="utf-8">${own}</head><body><script>x()</script></body>`, { config: { reportOnly: true } })
    expect(page.html).toContain(own)
    expect(page.scriptHashes).toEqual([])
    expect(page.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['page-policy-enforced', 'blocked-by-page-policy']))
  })
  it('strips header-only directives from the meta but keeps them in the header policy', async () => {
    const page = await sealHtml('<p>', {
      config: { policy: "default-src 'self'; frame-ancestors 'none'; sandbox allow-scripts", policyBase: 'none', report: { uri: 'https://r.example.com/csp' } },
    })
    expect(metaOf(page.html)).toBe("default-src 'self'")
    expect(serializePolicy(page.policy)).toBe(
      "default-src 'self'; frame-ancestors 'none'; sandbox allow-scripts; report-uri https://r.example.com/csp; report-to csp-endpoint",
    )
  })
  it('writes no meta for report-only or meta: false', async () => {
    expect((await sealHtml('<meta charset="utf-8"><script>1</script>', { config: { reportOnly: true } })).html).toBe('<meta charset="utf-8"><script>1</script>')
    expect((await sealHtml('<meta charset="utf-8"><script>1</script>', { config: { meta: false } })).html).toBe('<meta charset="utf-8"><script>1</script>')
  })
  it("never adds hashes where the user's policy keeps 'unsafe-inline'", async () => {
    const page = await sealHtml('<style>a{}</style><p style="x:y">', {
      config: { policy: "default-src 'self'; style-src 'self' 'unsafe-inline'", policyBase: 'none' },
    })
    expect(metaOf(page.html)).toBe("default-src 'self'; style-src 'self' 'unsafe-inline'")
    expect(page.warnings.map((w) => w.code)).toContain('unsafe-inline-kept')
  })
})

describe('sealHtml: integrity of local files', () => {
  const files = { 'assets/a.js': 'console.log(1)', 'assets/s.css': 'p{}', 'docs/local.js': 'x' }
  it('resolves relative, root-relative, query and fragment URLs, and <base href>', async () => {
    const html =
      '<link rel=stylesheet href=../assets/s.css?v=2><link rel="modulepreload" href="/assets/a.js"><link rel=preload as=style href="../assets/s.css#x"><script src="local.js"></script>'
    const page = await sealHtml(html, { file: 'docs/page.html', readAsset: assets(files) })
    expect(page.html).toBe(
      CHARSET +
        `<link rel=stylesheet href=../assets/s.css?v=2 integrity="${sri384('p{}')}"><link rel="modulepreload" href="/assets/a.js" integrity="${sri384('console.log(1)')}"><link rel=preload as=style href="../assets/s.css#x" integrity="${sri384('p{}')}"><script src="local.js" integrity="${sri384('x')}"></script>`.replace(
          '<link',
          `<meta http-equiv="Content-Security-Policy" content="${metaOf(page.html)}" data-csp-seal><link`,
        ),
    )
    const based = await sealHtml('<base href="/assets/"><script src="a.js"></script>', { file: 'docs/page.html', readAsset: assets(files) })
    expect(based.integrity['a.js']).toBe(sri384('console.log(1)'))
  })
  it('adds no integrity to local files when localIntegrity is off (file:// pages)', async () => {
    const html = '<meta charset="utf-8"><script src="assets/a.js"></script><link rel=stylesheet href=assets/s.css>'
    const page = await sealHtml(html, { config: { localIntegrity: false, meta: false }, readAsset: assets(files) })
    expect(page.html).toBe(html)
  })
  it('honours a base path', async () => {
    const page = await sealHtml('<script src="/app/assets/a.js"></script>', { config: { base: '/app/' }, readAsset: assets(files) })
    expect(page.integrity['/app/assets/a.js']).toBe(sri384('console.log(1)'))
  })
  it('keeps an integrity attribute that matches and rejects one that does not', async () => {
    const good = `<meta charset="utf-8"><script src="assets/a.js" integrity="${sri384('console.log(1)')}"></script>`
    expect((await sealHtml(good, { readAsset: assets(files), config: { meta: false } })).html).toBe(good)
    const bad = '<script src="assets/a.js" integrity="sha384-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"></script>'
    await expect(sealHtml(bad, { readAsset: assets(files) })).rejects.toThrow(/index\.html:1:1: integrity=.* does not match assets\/a\.js/)
    // Browsers use only the strongest algorithm listed: a matching sha256 next to a wrong sha512 is refused.
    const strongest = `<script src="assets/a.js" integrity="sha256-${createHash('sha256').update('console.log(1)').digest('base64')} sha512-AAAA"></script>`
    await expect(sealHtml(strongest, { readAsset: assets(files) })).rejects.toThrow(/does not match assets\/a\.js/)
  })
  it('names the page, the line and the URL of a missing file', async () => {
    await expect(sealHtml('<p>\n<script src="/assets/gone.js"></script>', { file: 'a/b.html', readAsset: assets(files) })).rejects.toThrow(
      /a\/b\.html:2:1: \/assets\/gone\.js resolves to "assets\/gone\.js" in the site folder, and there is no such file/,
    )
  })
  it("allows local scripts by integrity hash when the policy has no 'self' for scripts", async () => {
    const page = await sealHtml('<script src="assets/a.js"></script>', { config: { policy: "script-src 'strict-dynamic'" }, readAsset: assets(files) })
    expect(metaPolicy(page).get('script-src')).toEqual(["'strict-dynamic'", `'${sri384('console.log(1)')}'`])
  })
  it('without a remote resolver, allows remote files by origin and warns that they lack integrity', async () => {
    const page = await sealHtml('<script src="https://cdn.example.com/lib.js"></script><link rel="stylesheet" href="//fonts.example.net/f.css">')
    expect(metaPolicy(page).get('script-src')).toEqual(["'self'", 'https://cdn.example.com'])
    expect(metaPolicy(page).get('style-src')).toEqual(["'self'", 'https://fonts.example.net'])
    expect(page.remote).toEqual(['https://cdn.example.com/lib.js', 'https://fonts.example.net/f.css'])
    const warned = page.warnings.filter((w) => w.code === 'remote-without-integrity').map((w) => w.message)
    expect(warned).toEqual([
      'https://cdn.example.com/lib.js is loaded from another origin without integrity; script-src allows its whole origin https://cdn.example.com, so any script that origin serves can load',
      'https://fonts.example.net/f.css is loaded from another origin without integrity; style-src allows its whole origin https://fonts.example.net, so any stylesheet that origin serves can load',
    ])
  })
})

describe('sealHtml: SVG <script href>', () => {
  const files = { 'assets/a.js': 'console.log(1)' }
  const pinned = { resolve: async () => ({ kind: 'pinned', integrity: sri384('cdn()') }) } as unknown as RemoteIntegrity
  it('gets integrity like <script src> on the same origin, and can be allowed by it (browsers check it; measured in Chromium)', async () => {
    const page = await sealHtml('<svg><script href="assets/a.js"></script><script xlink:href="/assets/a.js"></script></svg>', {
      readAsset: assets(files),
      config: { policy: "script-src 'strict-dynamic'" },
    })
    expect(page.html).toContain(
      `<script href="assets/a.js" integrity="${sri384('console.log(1)')}"></script><script xlink:href="/assets/a.js" integrity="${sri384('console.log(1)')}"></script>`,
    )
    expect(metaPolicy(page).get('script-src')).toEqual(["'strict-dynamic'", `'${sri384('console.log(1)')}'`])
    expect(page.nonceSlots.tags).toHaveLength(2)
  })
  it('on another origin is allowed by origin, without integrity or crossorigin: browsers fetch it without CORS, so integrity could only fail', async () => {
    const page = await sealHtml('<svg><script href="https://cdn.example.com/x.js"></script></svg>', { remote: pinned })
    expect(page.html).not.toMatch(/integrity|crossorigin/)
    expect(metaPolicy(page).get('script-src')).toEqual(["'self'", 'https://cdn.example.com'])
    expect(page.warnings.find((w) => w.code === 'svg-script-origin')!.message).toMatch(
      /; script-src allows its whole origin https:\/\/cdn\.example\.com, so any script that origin serves can load$/,
    )
    expect(page.remote).toEqual(['https://cdn.example.com/x.js'])
  })
})

describe('sealHtml: bad input', () => {
  it('refuses pages in another charset', async () => {
    await expect(sealHtml('<meta charset="windows-1252"><script>1</script>')).rejects.toThrow(/charset "windows-1252"/)
  })
  it('names the page and the tag of an invalid existing CSP meta', async () => {
    await expect(sealHtml('<head>\n<meta http-equiv="Content-Security-Policy" content="script-src \'nonce-abc\'">', { file: 'x.html' })).rejects.toThrow(
      /x\.html:2:1: policy meta tag: a literal nonce/,
    )
  })
  it('seals malformed HTML as the browser parses it', async () => {
    const page = await sealHtml('<div><p>unclosed<script>1</script></div></div><style>a{}')
    expect(page.scriptHashes).toEqual([sha256('1')])
    expect(page.styleHashes).toEqual([sha256('a{}')])
  })
  it('throws a SealError with every problem', async () => {
    const error = await sealHtml('<script src="a.js"></script><script src="b.js"></script>').catch((e) => e)
    expect(error).toBeInstanceOf(SealError)
    expect((error as SealError).problems.map((p) => p.code)).toEqual(['missing-asset', 'missing-asset'])
  })
})

describe('nonce slots', () => {
  it('point just after the tag names of styles, stylesheets and external scripts, in UTF-8 bytes', async () => {
    const html =
      '\uFEFF<head><meta charset=utf-8><title>é日本</title><style>a{}</style><link rel=stylesheet href=s.css><script src="a.js"></script><script>inline()</script></head>'
    const page = await sealHtml(html, { readAsset: assets({ 's.css': 'p{}', 'a.js': '1' }) })
    const bytes = Buffer.from(page.html)
    expect(
      page.nonceSlots.tags.map(
        (o) =>
          bytes
            .subarray(0, o)
            .toString()
            .match(/<(\w+)$/)?.[1],
      ),
    ).toEqual(['style', 'link', 'script'])
    const [start, end] = page.nonceSlots.meta as [number, number]
    expect(bytes.subarray(start, end).toString()).toMatch(/^<meta http-equiv="Content-Security-Policy" content="[^"]+" data-csp-seal>$/)
  })
})

// Generated documents: an independent oracle for what the browser hashes.
const rawChars = fc.constantFrom('a', 'Z', ' ', '\n', '\r\n', '\r', '\t', '\0', 'é', '日', '😀', '<', '>', '&', '&lt;', '"', "'", '/', '{', '}', ';')
const rawText = fc
  .array(rawChars, { maxLength: 30 })
  .map((parts) => parts.join(''))
  .filter((t) => !/<\/(script|style)|<!--|<script/i.test(t))
const attrText = fc.array(fc.constantFrom('a', ' ', ':', ';', 'é', '0', 'px', '#'), { maxLength: 12 }).map((parts) => parts.join(''))
const browserText = (text: string) => text.replace(/\r\n?/g, '\n').replace(/\0/g, '\uFFFD')

type Piece = { html: string; script?: string; style?: string; attr?: string }
const piece: fc.Arbitrary<Piece> = fc.oneof(
  rawText.map((t) => ({ html: `<script>${t}</script>`, script: t })),
  rawText.map((t) => ({ html: `<SCRIPT type=module>${t}</SCRIPT>`, script: t })),
  rawText.map((t) => ({ html: `<script type="application/ld+json">${t}</script>` })),
  rawText.map((t) => ({ html: `<style>${t}</style>`, style: t })),
  attrText.map((t) => ({ html: `<p style="${t}">x</p>`, attr: t })),
  fc.constantFrom<Piece>(
    { html: '<!-- c -->' },
    { html: 'text é\r\n' },
    { html: '<div><span>' },
    { html: '</div>' },
    { html: '<br/>' },
    { html: '<img src=x.png alt=a>' },
  ),
)
const documentArb = fc.record({
  bom: fc.boolean(),
  doctype: fc.boolean(),
  head: fc.boolean(),
  charset: fc.boolean(),
  crlf: fc.boolean(),
  headPieces: fc.array(piece, { maxLength: 4 }),
  bodyPieces: fc.array(piece, { maxLength: 8 }),
})

type GeneratedDocument = typeof documentArb extends fc.Arbitrary<infer T> ? T : never

function buildDocument(d: GeneratedDocument) {
  const nl = d.crlf ? '\r\n' : '\n'
  const html = [
    d.bom ? '\uFEFF' : '',
    d.doctype ? `<!doctype html>${nl}` : '',
    d.head ? '<html><head>' : '',
    d.charset ? '<meta charset="utf-8">' : '',
    ...d.headPieces.map((p) => p.html),
    d.head ? `</head>${nl}<body>` : '',
    ...d.bodyPieces.map((p) => p.html),
  ].join('')
  const pieces = [...d.headPieces, ...d.bodyPieces]
  return { html, pieces }
}

describe('sealing properties (generated HTML)', () => {
  it('hashes what the browser hashes, leaves every other byte alone, is idempotent, emits parseable policies', async () => {
    await fc.assert(
      fc.asyncProperty(documentArb, async (d) => {
        const { html, pieces } = buildDocument(d)
        const page = await sealHtml(html)
        const meta = metaOf(page.html)!
        // Every inline script and style, as the browser parses it, is allowed by hash.
        const policy = parsePolicy(meta)
        for (const p of pieces) {
          if (p.script !== undefined && p.script !== '') expect(policy.get('script-src')).toContain(sha256(browserText(p.script)))
          if (p.style !== undefined) expect(policy.get('style-src')).toContain(sha256(browserText(p.style)))
          if (p.attr !== undefined) expect(policy.get('style-src-attr')).toContain(sha256(p.attr))
        }
        // Removing the inserted tags (the policy meta; a charset meta where the page declared none) gives back the input byte for byte.
        const tag = `<meta http-equiv="Content-Security-Policy" content="${meta}" data-csp-seal>`
        const inserted = d.charset || d.bom ? tag : CHARSET + tag
        expect(page.html.split(inserted)).toHaveLength(2)
        expect(page.html.replace(inserted, '')).toBe(html)
        // Sealing again changes nothing; the emitted policies parse back to themselves.
        const again = await sealHtml(page.html)
        expect(again.html).toBe(page.html)
        expect(again.changed).toBe(false)
        expect(serializePolicy(parsePolicy(serializePolicy(page.policy)))).toBe(serializePolicy(page.policy))
      }),
      { numRuns: propertyRuns(400) },
    )
  })
})

describe('hashes from beyond the page', () => {
  const extraHashes = {
    scripts: ["'sha256-c2NyaXB0'"],
    styles: ["'sha256-c3R5bGU='"],
    scriptAttributes: ["'sha256-aGFuZGxlcg=='"],
    styleAttributes: ["'sha256-YXR0cg=='"],
  }
  const policyOf = async (config: Record<string, unknown>) => {
    const { sealPage } = await import('../src/seal/page.js')
    const { resolveConfig } = await import('../src/config.js')
    const page = await sealPage('<meta charset="utf-8"><p style="color: red">x</p>', {
      file: 'index.html',
      config: resolveConfig(config),
      digests: async () => undefined,
      extraHashes,
    })
    return page.policy
  }

  it("join the page's own, in the directive each belongs to; attributes only where attributes are hashed", async () => {
    const policy = await policyOf({})
    expect(policy.get('script-src')).toContain("'sha256-c2NyaXB0'")
    expect(policy.get('style-src')).toContain("'sha256-c3R5bGU='")
    expect(policy.get('style-src-attr')).toEqual(expect.arrayContaining(["'unsafe-hashes'", "'sha256-YXR0cg=='"]))
    expect(JSON.stringify([...policy])).not.toContain('aGFuZGxlcg')
    expect(JSON.stringify([...(await policyOf({ styleAttributes: 'policy' }))])).not.toContain('YXR0cg')
    expect((await policyOf({ eventHandlers: 'hash' })).get('script-src-attr')).toContain("'sha256-aGFuZGxlcg=='")
  })
})

describe('sealPage: the sealed text', () => {
  it('is spliced only when read: a sealed page keeps html as a getter, and reading it gives the sealed bytes', async () => {
    const { sealPage } = await import('../src/seal/page.js')
    const { resolveConfig } = await import('../src/config.js')
    const source = '<!doctype html><html><head><meta charset="utf-8"><title>t</title><style>p{color:red}</style></head><body><p>x</p></body></html>'
    const page = await sealPage(source, { file: 'index.html', config: resolveConfig({}), digests: async () => undefined })
    // Writers use the bytes; decoding every page's text again is what the getter saves (a spread would defeat it).
    expect(typeof Object.getOwnPropertyDescriptor(page, 'html')?.get).toBe('function')
    expect(page.html).toBe(Buffer.from(page.bytes).toString('utf8'))
    expect(page.treeScan).toEqual([])
  })
})
