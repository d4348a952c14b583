import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { floorPage } from '../bench/floor.js'
import { DEFAULT_SITE, generatePages, siteAssets, type GeneratedPage } from '../bench/generate.js'
import { resolveConfig, RemoteIntegrity, scanHtml, sealHtml } from '../src/index.js'

// The benchmark's corpus and floor must be what they claim, or its figures mean nothing. No timing here.
const options = { ...DEFAULT_SITE, pages: 120 }
const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
let pages: GeneratedPage[]

beforeAll(() => {
  pages = [...generatePages(options)]
})

describe('bench site generator', () => {
  it('is deterministic: the same seed gives the same bytes, another seed other bytes', () => {
    const again = [...generatePages({ ...options, pages: 50 })]
    expect(again.map((p) => p.file)).toEqual(pages.slice(0, 50).map((p) => p.file))
    expect(again.map((p) => p.html)).toEqual(pages.slice(0, 50).map((p) => p.html))
    // Digests, not deep equality: the assets are megabytes.
    const digests = (files: Map<string, Buffer>) => [...files].map(([path, bytes]) => `${path} ${createHash('sha256').update(bytes).digest('hex')}`)
    const assets = siteAssets(options.seed)
    const assetsAgain = siteAssets(options.seed)
    expect(digests(assetsAgain.files)).toEqual(digests(assets.files))
    expect(assetsAgain.lock).toEqual(assets.lock)
    const other = [...generatePages({ ...options, pages: 5, seed: options.seed + 1 })]
    expect(other.map((p) => p.html)).not.toEqual(pages.slice(0, 5).map((p) => p.html))
  })

  it('makes pages of 20–120 KB in nested folders, with CRLF, SVG and multibyte pages among them', () => {
    for (const page of pages) {
      expect(page.bytes).toBe(Buffer.byteLength(page.html))
      expect(page.bytes).toBeGreaterThanOrEqual(options.minBytes)
      expect(page.bytes).toBeLessThanOrEqual(options.maxBytes)
    }
    expect(new Set(pages.map((p) => p.file)).size).toBe(pages.length)
    expect(pages.some((p) => p.file.split('/').length >= 4)).toBe(true)
    expect(pages.filter((p) => p.crlf).every((p) => !/[^\r]\n/.test(p.html))).toBe(true)
    expect(pages.some((p) => p.crlf)).toBe(true)
    expect(pages.some((p) => p.html.includes('<svg'))).toBe(true)
    expect(pages.filter((p) => Buffer.byteLength(p.html) > p.html.length).length).toBeGreaterThan(pages.length / 2)
    expect(pages.every((p) => p.html.includes('rel="modulepreload"'))).toBe(true)
    // Many style attributes: Shiki code blocks carry one per token.
    const styleAttributes = pages.map((p) => (p.html.match(/ style="/g) ?? []).length).sort((a, b) => a - b)
    expect(styleAttributes[0]).toBeGreaterThan(0)
    expect(styleAttributes[styleAttributes.length >> 1]).toBeGreaterThan(100)
  })

  it('puts 2–6 inline scripts (JSON-LD included) and 1–3 inline styles in every page', () => {
    for (const page of pages) {
      expect(page.scripts.length + page.dataBlocks).toBeGreaterThanOrEqual(2)
      expect(page.scripts.length + page.dataBlocks).toBeLessThanOrEqual(6)
      expect(page.styles.length).toBeGreaterThanOrEqual(1)
      expect(page.styles.length).toBeLessThanOrEqual(3)
    }
    const html = pages.map((p) => p.html).join('')
    for (const kind of [
      'type="importmap"',
      'type="application/ld+json"',
      'type="speculationrules"',
      'gtag(',
      '<noscript><style>',
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" class="illustration"><style>',
    ]) {
      expect(html).toContain(kind)
    }
  })

  describe('sealed by csp-seal', () => {
    let cwd: string
    beforeAll(async () => {
      cwd = await mkdtemp(join(tmpdir(), 'csp-seal-bench-test-'))
      await writeFile(join(cwd, 'csp-seal.lock.json'), JSON.stringify(siteAssets(options.seed).lock))
    })
    afterAll(async () => {
      await rm(cwd, { recursive: true, force: true })
    })

    it('finds exactly the expected inline scripts and styles, and every local and CDN asset resolves (no network)', async () => {
      const assets = siteAssets(options.seed)
      const config = resolveConfig({ remote: { mode: 'lock-only' } })
      const remote = new RemoteIntegrity(config, cwd)
      const readAsset = async (path: string) => assets.files.get(path)
      for (const page of pages.slice(0, 40)) {
        const sealed = await sealHtml(page.html, { file: page.file, config, readAsset, remote })
        expect(new Set(sealed.scriptHashes), page.file).toEqual(new Set(page.scripts.map(sha256)))
        expect(new Set(sealed.styleHashes), page.file).toEqual(new Set(page.styles.map(sha256)))
        for (const url of page.remote) expect(sealed.integrity[url], url).toBe(assets.lock.resources[url]!.integrity)
        expect(sealed.warnings.filter((w) => w.code.startsWith('remote') || w.code === 'missing-asset')).toEqual([])
        expect(Object.keys(sealed.integrity).length).toBe(new Set([...page.localAssets, ...page.remote]).size)
      }
    })
  })
})

describe('bench floor', () => {
  it("finds the same inline script and style texts as csp-seal's scanner, and only splices one meta tag", () => {
    const sample = [...pages.slice(0, 20), ...pages.filter((p) => p.crlf), ...pages.filter((p) => p.html.includes('class="illustration"')).slice(0, 5)]
    for (const page of sample) {
      const floor = floorPage(page.html)
      const scan = scanHtml(page.html)
      expect(floor.scripts, page.file).toEqual(scan.inline.filter((c) => c.element === 'script').map((c) => c.text))
      expect(floor.styles, page.file).toEqual(scan.inline.filter((c) => c.element === 'style').map((c) => c.text))
      expect(floor.scripts).toEqual(page.scripts)
      const meta = /<meta http-equiv="Content-Security-Policy" content="[^"]*">/.exec(floor.html)
      expect(meta).not.toBeNull()
      for (const text of [...page.scripts, ...page.styles]) expect(meta![0]).toContain(sha256(text))
      expect(floor.html.replace(meta![0], '')).toBe(page.html)
      expect(floor.html.indexOf(meta![0])).toBe(page.html.indexOf('<meta charset="utf-8">') + '<meta charset="utf-8">'.length)
    }
  })

  it('handles what a regex would get wrong: raw text, comments, foreign content, noscript, CRLF, data blocks', () => {
    const html =
      '<!doctype html><html><head><meta charset=utf-8><title>&lt;script&gt;x()&lt;/script&gt;</title>\r\n' +
      '<script>if (a < b && "</div>") go()\r\n</script><!-- <script>old()</script> --><script type="application/ld+json">{}</script>' +
      '<script src="/a.js"></script></head><body><textarea><style>no</style></textarea><svg><style>.a{fill:&quot;x&quot;}</style></svg>' +
      '<noscript><style>.js{display:none}</style></noscript><template><script>t()</script></template></body></html>'
    const floor = floorPage(html)
    const scan = scanHtml(html)
    expect(floor.scripts).toEqual(['if (a < b && "</div>") go()\n', 't()'])
    expect(floor.styles).toEqual(['.a{fill:"x"}', '.js{display:none}'])
    expect(floor.scripts).toEqual(scan.inline.filter((c) => c.element === 'script').map((c) => c.text))
    expect(floor.styles).toEqual(scan.inline.filter((c) => c.element === 'style').map((c) => c.text))
  })
})
