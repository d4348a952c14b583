/**
 * The pre-flight: every URL a page names, checked against the page's final policy by CSP3's source-list matching, and
 * each blocked one reported with its directive and a fix that can be applied as printed.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cli } from './support/cli.js'
import { useTempDirs } from './support/sites.js'
import { resolveConfig, type CspSealConfig } from '../src/config.js'
import { policyAllows, policyUrl, sourceAllows, sourceListAllows } from '../src/csp/match.js'
import { parsePolicy } from '../src/csp/policy.js'
import { srcsetUrls } from '../src/html/rules.js'
import { fastScanHtml } from '../src/html/fast-scan.js'
import { sealPage } from '../src/seal/page.js'
import type { Problem } from '../src/problems.js'

const url = (raw: string, base?: string) => {
  const parsed = policyUrl(raw, base)
  if (!parsed) throw new Error(`not a policy URL: ${raw}`)
  return parsed
}
const allows = (source: string, raw: string) => sourceAllows(source, url(raw))

describe('source-list matching (CSP3 §6.7.2)', () => {
  it('scheme-sources match their scheme and its secure upgrade only', () => {
    expect(allows('https:', 'https://a.example/x')).toBe(true)
    expect(allows('http:', 'https://a.example/x')).toBe(true)
    expect(allows('https:', 'http://a.example/x')).toBe(false)
    expect(allows('data:', 'data:image/png;base64,AA==')).toBe(true)
    expect(allows('data:', 'https://a.example/')).toBe(false)
    expect(allows('blob:', 'blob:https://a.example/1')).toBe(true)
    expect(allows('wss:', 'https://a.example/')).toBe(true)
  })

  it('* matches network schemes, not data: or blob:', () => {
    expect(allows('*', 'https://anything.example:8443/x')).toBe(true)
    expect(allows('*', 'http://anything.example/x')).toBe(true)
    expect(allows('*', 'data:image/png;base64,AA==')).toBe(false)
    expect(allows('*', 'blob:https://a.example/1')).toBe(false)
  })

  it('host-sources: exact hosts, *. wildcards (subdomains only), ports, paths', () => {
    expect(allows('https://cdn.example.com', 'https://cdn.example.com/a/b.png')).toBe(true)
    expect(allows('https://cdn.example.com', 'https://CDN.Example.com/a')).toBe(true)
    expect(allows('https://cdn.example.com', 'https://img.example.com/a')).toBe(false)
    expect(allows('*.example.com', 'https://a.b.example.com/x')).toBe(true)
    expect(allows('*.example.com', 'https://example.com/x')).toBe(false)
    expect(allows('*.example.com', 'https://badexample.com/x')).toBe(false)
    // No scheme: the page's (https), or its upgrade.
    expect(allows('cdn.example.com', 'https://cdn.example.com/x')).toBe(true)
    expect(allows('cdn.example.com', 'http://cdn.example.com/x')).toBe(false)
    expect(allows('http://cdn.example.com', 'https://cdn.example.com/x')).toBe(true)
    // Ports: none means the scheme's default; * any; else the same.
    expect(allows('https://cdn.example.com', 'https://cdn.example.com:443/x')).toBe(true)
    expect(allows('https://cdn.example.com', 'https://cdn.example.com:8443/x')).toBe(false)
    expect(allows('https://cdn.example.com:8443', 'https://cdn.example.com:8443/x')).toBe(true)
    expect(allows('https://cdn.example.com:*', 'https://cdn.example.com:9/x')).toBe(true)
    expect(allows('https://cdn.example.com:443', 'https://cdn.example.com/x')).toBe(true)
    // Paths: ending in / allows what is under it; otherwise exactly that path. Compared percent-decoded.
    expect(allows('https://cdn.example.com/img/', 'https://cdn.example.com/img/a/b.png')).toBe(true)
    expect(allows('https://cdn.example.com/img/', 'https://cdn.example.com/imgs/a.png')).toBe(false)
    expect(allows('https://cdn.example.com/img/a.png', 'https://cdn.example.com/img/a.png')).toBe(true)
    expect(allows('https://cdn.example.com/img/a.png', 'https://cdn.example.com/img/a.png/b')).toBe(false)
    expect(allows('https://cdn.example.com/img%20x/', 'https://cdn.example.com/img x/a.png')).toBe(true)
  })

  it("'self' and the page's own URLs: relative URLs are same-origin; 'none' and hashes match nothing", () => {
    expect(allows("'self'", '/img/a.png')).toBe(true)
    expect(allows("'self'", 'a.png')).toBe(true)
    expect(allows("'self'", 'https://elsewhere.example/a.png')).toBe(false)
    expect(allows("'self'", 'data:image/png;base64,AA==')).toBe(false)
    expect(allows("'none'", '/a.png')).toBe(false)
    expect(allows("'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='", '/a.png')).toBe(false)
    expect(allows('data:', '/a.png')).toBe(false)
    // A protocol-relative URL is another origin over the page's scheme.
    expect(allows('https://cdn.example.com', '//cdn.example.com/v.mp4')).toBe(true)
    // A <base> on another origin moves relative URLs there.
    expect(sourceAllows("'self'", url('a.png', 'https://cdn.example.com/'))).toBe(false)
    expect(sourceAllows('https://cdn.example.com', url('a.png', 'https://cdn.example.com/'))).toBe(true)
    expect(policyUrl('')).toBeUndefined()
    expect(policyUrl('mailto:a@example.com')).toBeUndefined()
    expect(policyUrl('javascript:void(0)')).toBeUndefined()
  })

  it('follows the fallback chain; form-action and base-uri have none', () => {
    const policy = parsePolicy("default-src 'self'; child-src https://frames.example.com")
    expect(policyAllows(policy, 'img-src', url('https://x.example/a.png'))).toEqual({ allowed: false, governing: 'default-src', sources: ["'self'"] })
    expect(policyAllows(policy, 'frame-src', url('https://frames.example.com/f'))).toMatchObject({ allowed: true, governing: 'child-src' })
    expect(policyAllows(policy, 'form-action', url('https://x.example/submit'))).toEqual({ allowed: true })
    expect(policyAllows(policy, 'base-uri', url('https://x.example/'))).toEqual({ allowed: true })
    expect(policyAllows(parsePolicy("default-src 'none'; media-src https:"), 'media-src', url('https://m.example/v.mp4')).allowed).toBe(true)
  })

  // Host labels, ports and paths drawn at random: a URL built to fit a host-source matches it, and one that changes
  // its scheme, port or a host label does not.
  const label = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/)
  const hostSource = fc.record({
    scheme: fc.constantFrom('https', 'http', undefined),
    wildcard: fc.boolean(),
    labels: fc.array(label, { minLength: 2, maxLength: 4 }),
    port: fc.option(
      fc.integer({ min: 1, max: 65535 }).filter((p) => p !== 443 && p !== 80),
      { nil: undefined },
    ),
    path: fc.option(
      fc.array(label, { minLength: 1, maxLength: 3 }).chain((segments) => fc.boolean().map((dir) => `/${segments.join('/')}${dir ? '/' : ''}`)),
      { nil: undefined },
    ),
  })
  const sourceText = (s: { scheme?: string; wildcard: boolean; labels: string[]; port?: number; path?: string }) =>
    `${s.scheme ? `${s.scheme}://` : ''}${s.wildcard ? '*.' : ''}${s.labels.join('.')}${s.port ? `:${s.port}` : ''}${s.path ?? ''}`
  const fitting = (s: { wildcard: boolean; labels: string[]; port?: number; path?: string }, sub: string, rest: string) =>
    `https://${s.wildcard ? `${sub}.` : ''}${s.labels.join('.')}${s.port ? `:${s.port}` : ''}${s.path === undefined ? `/${rest}` : s.path.endsWith('/') ? `${s.path}${rest}` : s.path}`

  it('property: a URL built to match a host-source is allowed; another scheme, port or host label is blocked', () => {
    fc.assert(
      fc.property(hostSource, label, label, fc.integer({ min: 0, max: 3 }), (s, sub, rest, i) => {
        const source = sourceText(s)
        const good = fitting(s, sub, rest)
        expect(sourceAllows(source, url(good)), `${source} ${good}`).toBe(true)
        expect(sourceListAllows(["'self'", 'data:', source], url(good))).toBe(true)
        // Another scheme: plain http is never allowed by an https (or scheme-less, on an https page) host-source.
        if (s.scheme !== 'http') expect(sourceAllows(source, url(good.replace(/^https:/, 'http:')))).toBe(false)
        // Another port.
        const otherPort = s.port === undefined ? 8443 : s.port === 65535 ? 1 : s.port + 1
        const portless = good.replace(/^(https:\/\/[^/:]+)(:\d+)?/, `$1:${otherPort}`)
        expect(sourceAllows(source, url(portless)), `${source} ${portless}`).toBe(false)
        // Another host label (one of the source's own, changed).
        const labels = [...s.labels]
        const at = i % labels.length
        labels[at] = `${labels[at]}x`
        const otherHost = fitting({ ...s, labels }, sub, rest)
        expect(sourceAllows(source, url(otherHost)), `${source} ${otherHost}`).toBe(false)
        // The wildcard does not cover the bare domain.
        if (s.wildcard) expect(sourceAllows(source, url(fitting({ ...s, wildcard: false }, sub, rest)))).toBe(false)
      }),
      { numRuns: 500 },
    )
  })
})

describe('srcset', () => {
  it('reads each candidate URL without its descriptor', () => {
    expect(srcsetUrls('a.png 1x, https://cdn.example.com/b.png 2x')).toEqual(['a.png', 'https://cdn.example.com/b.png'])
    // As HTML parses it: a URL runs to whitespace (commas inside it stay, as in data: URLs), trailing commas end it.
    expect(srcsetUrls('  a.png,b.png 100w , c.png,, d.png')).toEqual(['a.png,b.png', 'c.png', 'd.png'])
    expect(srcsetUrls('a.png (x, y) 1x, b.png')).toEqual(['a.png', 'b.png'])
    expect(srcsetUrls('data:image/png;base64,AA== 1x')).toEqual(['data:image/png;base64,AA=='])
    expect(srcsetUrls('')).toEqual([])
  })
})

const blocked = async (body: string, config: CspSealConfig = {}): Promise<Problem[]> => {
  const page = await sealPage(`<!doctype html><meta charset="utf-8">${body}`, {
    file: 'docs/page.html',
    config: resolveConfig(config),
    digests: async () => undefined,
  })
  return page.warnings.filter((w) => w.code === 'blocked-resource')
}

describe('pre-flight of the URLs a page names', () => {
  it.each([
    ['<img src="https://img.example.com/a.png">', 'img-src', 'https://img.example.com', 'src'],
    ['<img src="/a.png" srcset="/b.png 1x, https://img.example.com/c.png 2x">', 'img-src', 'https://img.example.com', 'srcset'],
    ['<picture><source srcset="https://img.example.com/a.avif"><img src="/a.png"></picture>', 'img-src', 'https://img.example.com', 'srcset'],
    ['<input type="image" src="https://img.example.com/i.png">', 'img-src', 'https://img.example.com', 'src'],
    ['<video poster="https://img.example.com/p.jpg" src="/v.mp4"></video>', 'img-src', 'https://img.example.com', 'poster'],
    ['<video src="https://media.example.com/v.mp4"></video>', 'media-src', 'https://media.example.com', 'src'],
    ['<audio><source src="https://media.example.com/a.ogg"></audio>', 'media-src', 'https://media.example.com', 'src'],
    ['<video><track src="https://media.example.com/t.vtt"></video>', 'media-src', 'https://media.example.com', 'src'],
    ['<iframe src="https://www.youtube.com/embed/x"></iframe>', 'frame-src', 'https://www.youtube.com', 'src'],
    ['<object data="https://plugins.example.com/x"></object>', 'object-src', 'https://plugins.example.com', 'data'],
    ['<embed src="/local.swf">', 'object-src', "'self'", 'src'],
    ['<form action="https://forms.example.com/submit"></form>', 'form-action', 'https://forms.example.com', 'action'],
    ['<form><button formaction="https://forms.example.com/b">b</button></form>', 'form-action', 'https://forms.example.com', 'formaction'],
    ['<link rel="icon" href="https://cdn.example.com/f.ico">', 'img-src', 'https://cdn.example.com', 'href'],
    ['<link rel="manifest" href="https://cdn.example.com/app.webmanifest">', 'manifest-src', 'https://cdn.example.com', 'href'],
    ['<link rel="preload" as="font" href="https://fonts.example.com/f.woff2" crossorigin>', 'font-src', 'https://fonts.example.com', 'href'],
    ['<base href="https://cdn.example.com/">', 'base-uri', 'https://cdn.example.com', 'href'],
    ['<svg><image href="https://img.example.com/s.png"/></svg>', 'img-src', 'https://img.example.com', 'href'],
    ['<img src="blob:https://a.example/1">', 'img-src', 'blob:', 'src'],
  ])('%s: blocked under %s', async (body, directive, source, attribute) => {
    const [warning, ...more] = await blocked(body)
    expect(more).toEqual([])
    expect(warning!.message).toContain(`${directive}`)
    expect(warning!.message).toContain(`does not allow ${source}`)
    expect(warning!.element).toMatch(new RegExp(`^<\\w+ ${attribute}="`))
    expect(warning!.file).toBe('docs/page.html')
    expect(warning!.fix).toContain(`allow ${source} in ${directive}: --policy "`)
  })

  it('reports nothing the policy allows: same-origin, data: images, allowed hosts, an iframe shown from srcdoc', async () => {
    expect(
      await blocked(
        '<img src="/a.png" srcset="b.png 2x"><img src="data:image/png;base64,AA=="><video src="v.mp4" poster="p.jpg"></video><form action="/s"></form><base href="/docs/">',
      ),
    ).toEqual([])
    expect(await blocked('<iframe srcdoc="<p>x" src="https://elsewhere.example/"></iframe><a href="https://elsewhere.example/">link</a>')).toEqual([])
    expect(await blocked('<img src="https://img.example.com/a.png">', { policy: "img-src 'self' https://img.example.com" })).toEqual([])
    expect(await blocked('<img src="https://a.img.example.com/a.png">', { policy: "img-src 'self' *.img.example.com" })).toEqual([])
    expect(await blocked('<form action="https://forms.example.com/">', { policy: "default-src 'self'", policyBase: 'none' })).toEqual([])
  })

  it('the printed policy, applied as printed, leaves nothing blocked', async () => {
    for (const [body, config] of [
      ['<img src="https://img.example.com/a.png">', {}],
      ['<iframe src="https://frames.example.com/f"></iframe>', { policy: "script-src 'self' https://cdn.example.com" }],
      ['<video src="https://media.example.com/v.mp4"></video>', { policy: "default-src 'self'", policyBase: 'none' }],
      ['<object data="/x.swf"></object>', {}],
    ] as [string, CspSealConfig][]) {
      const [warning] = await blocked(body, config)
      const printed = /--policy "([^"]+)"/.exec(warning!.fix!)![1]!
      const fixed = { ...config, policy: printed }
      expect(await blocked(body, fixed), `${body} with ${printed}`).toEqual([])
    }
  })

  it('keeps your other directives in the printed value, and names the fallback that governs', async () => {
    const [warning] = await blocked('<iframe src="https://frames.example.com/f"></iframe>', {
      policy: "default-src 'self'; script-src 'self' https://cdn.example.com",
      policyBase: 'none',
    })
    expect(warning!.message).toContain('frame-src (it has no frame-src, so default-src governs) does not allow https://frames.example.com')
    expect(warning!.fix).toContain(`--policy "default-src 'self'; script-src 'self' https://cdn.example.com; frame-src 'self' https://frames.example.com"`)
  })

  it('resolves relative URLs against <base href>', async () => {
    const warnings = await blocked('<base href="https://cdn.example.com/"><img src="a.png">', { policy: 'base-uri https://cdn.example.com' })
    expect(warnings.map((w) => w.message)).toEqual(['the policy blocks images from https://cdn.example.com: img-src does not allow https://cdn.example.com'])
  })

  it('reports the same directive and source with one message on every page, so a run groups them', async () => {
    const a = await blocked('<img src="https://img.example.com/a.png">')
    const b = await blocked('<p><img src="https://img.example.com/other.png"></p>')
    expect(a[0]!.message).toBe(b[0]!.message)
    expect(a[0]!.fix).toBe(b[0]!.fix)
  })

  it('both scanners report the URLs alike', () => {
    const html =
      '<picture><source srcset="x.avif 1x, https://a.example/y.avif 2x"><img src=z.png></picture><template><img src="https://t.example/t.png"></template><noscript><img src="https://n.example/p.gif"></noscript>'
    const scan = fastScanHtml(html)
    expect(scan.resources.map((r) => [r.directive, r.attribute, r.url, r.tag.context])).toEqual([
      ['img-src', 'srcset', 'x.avif', 'document'],
      ['img-src', 'srcset', 'https://a.example/y.avif', 'document'],
      ['img-src', 'src', 'z.png', 'document'],
      ['img-src', 'src', 'https://t.example/t.png', 'template'],
      ['img-src', 'src', 'https://n.example/p.gif', 'noscript'],
    ])
  })
})

describe('the CLI groups blocked URLs across pages', () => {
  const { track } = useTempDirs()
  it('prints one finding per directive and source with its count, places and fix; the fix, applied, seals clean', async () => {
    const site = track(await mkdtemp(join(tmpdir(), 'csp-seal-preflight-')))
    await mkdir(join(site, 'blog'))
    const page = (body: string) => `<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>${body}</body></html>`
    for (const name of ['a', 'b', 'c', 'd'])
      await writeFile(join(site, 'blog', `${name}.html`), page(`<img src="https://avatars.example.com/${name}.png" alt="">`))
    await writeFile(join(site, 'index.html'), page('<iframe src="https://video.example.net/embed/1"></iframe><img src="/local.png" alt="">'))
    const run = await cli([site, '--dry-run'])
    expect(run.code).toBe(0)
    expect(run.out).toContain('blocked-resource ×5')
    expect(run.out).toContain('the policy blocks images from https://avatars.example.com: img-src does not allow https://avatars.example.com (4 times)')
    expect(run.out).toMatch(/e\.g\. blog\/a\.html:1:\d+, blog\/b\.html:1:\d+, blog\/c\.html:1:\d+, and 1 more/)
    expect(run.out).toContain(`fix: allow https://avatars.example.com in img-src: --policy "img-src 'self' data: https://avatars.example.com"`)
    expect(run.out).toContain(
      'the policy blocks frames from https://video.example.net: frame-src (it has no frame-src, so default-src governs) does not allow https://video.example.net',
    )
    // The two fixes, each applied as printed, one after the other.
    const first = /--policy "(img-src[^"]+)"/.exec(run.out)![1]!
    const second = await cli([site, '--dry-run', '--policy', first])
    expect(second.out).not.toContain('the policy blocks images')
    const combined = /--policy "([^"]+)"/.exec(second.out)![1]!
    expect(combined).toBe(`img-src 'self' data: https://avatars.example.com; frame-src 'self' https://video.example.net`)
    const sealed = await cli([site, '--policy', combined])
    expect(sealed.code).toBe(0)
    expect(sealed.out).not.toContain('blocked-resource')
    expect(await readFile(join(site, 'blog', 'a.html'), 'utf8')).toContain("img-src 'self' data: https://avatars.example.com")
    const json = await cli([site, '--check', '--policy', combined, '--json'])
    expect(json.code).toBe(0)
  })
})
