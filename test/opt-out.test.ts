/**
 * Leaving things out: pages by glob (`exclude`), one element (`data-csp-seal="ignore"`), and third-party origins
 * trusted whole (`remote.trustedOrigins`). Opting an element out can only take something away, whoever wrote the
 * attribute; a trusted origin is allowed whole, and the run says so.
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealBundle, sealDirectory, sealHtml, type RemoteIntegrity } from '../src/index.js'
import { computedStyle, describeVisit, launchBrowser, visit, type Browser } from './support/browser.js'
import { startCdn } from './support/cdn.js'
import { cli } from './support/cli.js'
import { removeDir, snapshot, useTempDirs } from './support/sites.js'
import { startStaticServer } from './support/static-server.js'

const { fixture } = useTempDirs()
const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`
const sri384 = (text: string) => `sha384-${createHash('sha384').update(text).digest('base64')}`
const assets = (files: Record<string, string>) => async (path: string) => (path in files ? Buffer.from(files[path]!) : undefined)

describe('exclude', () => {
  it('leaves matching pages untouched and out of the manifest, and says how many', async () => {
    const dir = await fixture('example-site')
    const before = await snapshot(dir)
    const run = await cli([dir, '--exclude', 'docs/**', '--exclude', 'legacy.htm'])
    expect(run.code).toBe(0)
    expect(run.out).toMatch(/sealed 8 pages/)
    expect(run.out).toMatch(/excluded\s+3 pages \(exclude: docs\/\*\*, legacy\.htm\)/)
    const after = await snapshot(dir)
    for (const page of ['docs/guide/index.html', 'docs/api/reference.html', 'legacy.htm']) expect(after.get(page), page).toEqual(before.get(page))
    expect(after.get('index.html')).not.toEqual(before.get('index.html'))
    const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8'))
    expect(Object.keys(manifest.pages)).not.toContain('docs/guide/index.html')
    expect(manifest.options.exclude).toEqual(['docs/**', 'legacy.htm'])
    expect((await cli([dir, '--check'])).code).toBe(0) // the check leaves them out too
  })

  it('applies to the pages of a bundle (the plugins) and is validated', async () => {
    const result = await sealBundle(
      [
        { file: 'index.html', html: '<script>1</script>' },
        { file: 'legacy/old.html', html: '<script>2</script>' },
      ],
      { config: { exclude: ['legacy/**'] }, readAsset: assets({}) },
    )
    expect(result.pages.map((p) => p.file)).toEqual(['index.html'])
    await expect(sealBundle([], { config: { exclude: '/abs' as never }, readAsset: assets({}) })).rejects.toThrow(/exclude must be a list of globs/)
  })
})

describe('data-csp-seal="ignore"', () => {
  const files = { 'assets/a.js': 'a()', 'assets/s.css': 'p{}' }
  let fetched: string[]
  const pinned = {
    resolve: async (url: string) => (fetched.push(url), { kind: 'pinned', integrity: sri384(url), digests: undefined }),
  } as unknown as RemoteIntegrity
  beforeAll(() => {
    fetched = []
  })

  it('allows nothing for the element and leaves it byte for byte', async () => {
    const ignored = [
      '<script data-csp-seal="ignore">evil()</script>',
      '<style data-csp-seal=IGNORE>p{color:red}</style>',
      '<script data-csp-seal=" ignore " src="assets/missing.js"></script>',
      '<script data-csp-seal="ignore" src="https://evil.example/x.js"></script>',
      '<link data-csp-seal="ignore" rel="stylesheet" href="https://evil.example/x.css">',
      '<p data-csp-seal="ignore" style="color:blue" onclick="steal()">x</p>',
    ]
    const html = `<!doctype html><html><head><meta charset="utf-8"><script>ok()</script><script src="assets/a.js"></script>${ignored.join('')}</head><body></body></html>`
    const page = await sealHtml(html, { readAsset: assets(files), remote: pinned, config: { eventHandlers: 'hash', nonce: true } })
    for (const tag of ignored) expect(page.html).toContain(tag)
    const policy = [...page.policy.values()].flat()
    expect(policy).toContain(sha256('ok()'))
    for (const text of ['evil()', 'p{color:red}', 'color:blue', 'steal()']) expect(policy).not.toContain(sha256(text))
    expect(policy.join(' ')).not.toContain('evil.example')
    expect(fetched).toEqual([]) // not even fetched
    expect(page.warnings).toEqual([]) // no handler warning, no missing file
    expect(page.integrity).toEqual({ 'assets/a.js': sri384('a()') })
    expect(page.nonceSlots.tags).toHaveLength(1) // only assets/a.js: no nonce for an ignored tag
  })

  it('never allows more than the same page without it (property)', async () => {
    const element = fc.oneof(
      fc.constantFrom('a()', 'b()', 'c()').map((code) => ({ kind: 'script', text: code, html: (attr: string) => `<script${attr}>${code}</script>` })),
      fc.constantFrom('p{}', 'i{}').map((css) => ({ kind: 'style', text: css, html: (attr: string) => `<style${attr}>${css}</style>` })),
      fc.constantFrom('color:red', 'margin:0').map((decl) => ({ kind: 'attr', text: decl, html: (attr: string) => `<p${attr} style="${decl}">p</p>` })),
      fc.constantFrom('go()', 'stop()').map((code) => ({ kind: 'attr', text: code, html: (attr: string) => `<button${attr} onclick="${code}">b</button>` })),
      fc
        .constantFrom('assets/a.js', 'https://cdn.example/x.js', 'https://other.example/y.js')
        .map((src) => ({ kind: 'src', text: src, html: (attr: string) => `<script${attr} src="${src}"></script>` })),
      fc
        .constantFrom('assets/s.css', 'https://cdn.example/s.css')
        .map((href) => ({ kind: 'href', text: href, html: (attr: string) => `<link${attr} rel=stylesheet href="${href}">` })),
    )
    const markings = fc.constantFrom(' data-csp-seal="ignore"', ' DATA-CSP-SEAL=Ignore', " data-csp-seal='ignore '")
    const doc = fc.array(fc.record({ element, ignored: fc.boolean(), marking: markings }), { minLength: 1, maxLength: 12 })
    await fc.assert(
      fc.asyncProperty(doc, fc.constantFrom<'hash' | 'report'>('hash', 'report'), async (elements, eventHandlers) => {
        const build = (ignoring: boolean) =>
          `<!doctype html><head><meta charset="utf-8"></head><body>${elements.map((e) => e.element.html(e.ignored && ignoring ? e.marking : ' data-kept="1"')).join('\n')}</body>`
        const config = { eventHandlers, nonce: true }
        const options = { readAsset: assets(files), remote: pinned, config }
        const [withOptOut, without] = [await sealHtml(build(true), options), await sealHtml(build(false), options)]
        for (const [directive, sources] of withOptOut.policy) {
          expect(without.policy.has(directive), directive).toBe(true)
          for (const source of sources) expect(without.policy.get(directive), `${directive} ${source}`).toContain(source)
        }
        expect(withOptOut.nonceSlots.tags.length).toBeLessThanOrEqual(without.nonceSlots.tags.length)
        // What an ignored element alone would have brought is absent: its hash, a CDN script's pin, a CDN stylesheet's origin.
        const kept = elements.filter((e) => !e.ignored).map((e) => e.element)
        const all = [...withOptOut.policy.values()].flat()
        const remote = (url: string) => /^https:/.test(url)
        for (const { element, marking } of elements.filter((e) => e.ignored)) {
          expect(withOptOut.html).toContain(element.html(marking)) // byte for byte
          if (kept.some((k) => k.text === element.text)) continue
          if (element.kind === 'src') {
            if (remote(element.text)) expect(all).not.toContain(`'${sri384(element.text)}'`)
          } else if (element.kind === 'href') {
            const origin = remote(element.text) ? new URL(element.text).origin : undefined
            if (origin && !kept.some((k) => k.kind === 'href' && k.text.startsWith(origin))) expect(all).not.toContain(origin)
          } else {
            expect(all).not.toContain(sha256(element.text))
          }
        }
      }),
      { numRuns: 150 },
    )
  })
})

describe('in Chromium: an ignored element runs only if the policy allows it otherwise; a trusted origin is trusted whole', () => {
  let browser: Browser
  let work: string
  let cdn: Awaited<ReturnType<typeof startCdn>>
  let attacker: Awaited<ReturnType<typeof startCdn>>
  const push = (id: string) => `(window.__ran = window.__ran || []).push('${id}')`

  beforeAll(async () => {
    browser = await launchBrowser()
    cdn = await startCdn({ '/tag.js': push('vendor:tag'), '/other.js': push('vendor:other') })
    attacker = await startCdn({ '/evil.js': push('attacker:evil') })
    work = await mkdtemp(join(tmpdir(), 'csp-seal-opt-out-'))
  })
  afterAll(async () => {
    await cdn?.close()
    await attacker?.close()
    await browser?.close()
    if (work) await removeDir(work)
  })

  it('blocks ignored inline code, keeps what the policy allows, and runs anything the trusted origin serves', async () => {
    const dir = join(work, 'site')
    await mkdir(join(dir, 'assets'), { recursive: true })
    await writeFile(join(dir, 'assets/local.js'), push('local:ignored-but-self'))
    await writeFile(
      join(dir, 'index.html'),
      `<!doctype html><html><head><meta charset="utf-8">
<script>${push('inline:kept')}</script>
<script data-csp-seal="ignore">${push('inline:ignored')}</script>
<script data-csp-seal="ignore" src="/assets/local.js"></script>
<style data-csp-seal="ignore">#title { color: rgb(1, 2, 3) }</style>
<script src="${cdn.origin}/tag.js"></script>
</head><body><h1 id="title">t</h1></body></html>`,
    )
    const run = await cli([dir, '--trust-origin', cdn.origin], { cwd: work })
    expect(run.code).toBe(0)
    expect(run.out).toContain(`trusted whole   ${cdn.origin}: allowed by origin without integrity, so every script these origins serve can run`)
    expect(cdn.requests).toEqual([]) // neither fetched nor pinned at build time
    const sealed = await readFile(join(dir, 'index.html'), 'utf8')
    expect(sealed).toContain(`<script src="${cdn.origin}/tag.js"></script>`)
    expect(sealed).toContain('<script data-csp-seal="ignore" src="/assets/local.js"></script>')
    // After sealing, markup is injected that loads another file of the trusted origin, and one of another origin.
    const injected = sealed.replace('</body>', `<script src="${cdn.origin}/other.js"></script><script src="${attacker.origin}/evil.js"></script></body>`)
    await writeFile(join(dir, 'injected.html'), injected)
    const server = await startStaticServer(dir)
    try {
      const v = await visit(browser, `${server.origin}/injected.html`)
      try {
        expect([...v.ran].sort(), describeVisit(v)).toEqual(['inline:kept', 'local:ignored-but-self', 'vendor:other', 'vendor:tag'])
        expect(await computedStyle(v.page, '#title', 'color')).not.toBe('rgb(1, 2, 3)')
        const blocked = v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`).sort()
        expect(blocked, describeVisit(v)).toEqual([`script-src-elem ${attacker.origin}/evil.js`, 'script-src-elem inline', 'style-src-elem inline'])
      } finally {
        await v.close()
      }
    } finally {
      await server.close()
    }
  }, 120_000)

  it('a library caller gets the same: sealDirectory with trustedOrigins', async () => {
    const dir = join(work, 'lib')
    await mkdir(dir, { recursive: true })
    await writeFile(
      join(dir, 'index.html'),
      `<!doctype html><meta charset="utf-8"><script src="${cdn.origin}/tag.js"></script><link rel=stylesheet href="${cdn.origin}/t.css">`,
    )
    const result = await sealDirectory(dir, { remote: { trustedOrigins: [cdn.origin] } }, { cwd: work, keepManifest: true })
    const policy = result.pages[0]!.manifest!.policy
    expect(policy).toMatch(new RegExp(`script-src 'self' ${cdn.origin}(;|$)`))
    expect(policy).toMatch(new RegExp(`style-src 'self' ${cdn.origin}(;|$)`))
    expect(result.pages[0]!.integrity).toBe(0)
    expect(result.lockFile).toBeUndefined()
    await expect(sealDirectory(dir, { remote: { trustedOrigins: [`${cdn.origin}/`] } }, { cwd: work })).rejects.toThrow(
      /is not an origin \(scheme and host, no path\)[\s\S]*write it as "http:\/\/127\.0\.0\.1:\d+"/,
    )
  })
})
