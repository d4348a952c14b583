/**
 * What a sealed page must never do, checked in real Chromium: accept what the page's own policy refused (its CSP
 * meta is kept as a policy of its own; frame-ancestors and report-uri from it never reach a header; reportOnly never
 * turns it report-only), break non-ASCII inline code when the server sends no charset, or lose run-time code that
 * carries the per-response nonce under `default-src 'none'` (the one nonce rule of build, dev and server).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory, type CspSealConfig, type Manifest, type SiteResult } from '../src/index.js'
import { createMiddleware } from '../src/server/node.js'
import { computedStyle, describeVisit, launchBrowser, visit, type Browser } from './support/browser.js'
import { removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

let browser: Browser
const cleanup: Array<() => Promise<void>> = []
beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo()
  await browser?.close()
})

/** Writes `files` into a fresh folder, seals it with `config`, and serves it with the manifest's headers for each page. */
async function sealedSite(
  files: Record<string, string>,
  config: CspSealConfig,
  serve: { contentType?: string } = {},
): Promise<{ server: StaticServer; result: SiteResult; manifest: Manifest; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'csp-seal-browser-security-'))
  cleanup.push(() => removeDir(dir))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  const result = await sealDirectory(dir, config)
  const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')) as Manifest
  const server = await startStaticServer(dir, {
    headers: (path) => ({
      ...(manifest.pages[path.slice(1)]?.headers ?? {}),
      ...(serve.contentType && path.endsWith('.html') ? { 'Content-Type': serve.contentType } : {}),
    }),
  })
  cleanup.push(() => server.close())
  return { server, result, manifest, dir }
}

const head = (extra = '') => `<!doctype html><html><head><meta charset="utf-8">${extra}<title>t</title></head>`
const ran = (id: string) => `<script>(window.__ran = window.__ran || []).push(${JSON.stringify(id)})</script>`

describe("a page's own CSP meta is kept: sealing never makes the page accept what it refused", () => {
  const files = {
    'none.html': `${head(`<meta http-equiv="Content-Security-Policy" content="script-src 'none'">`)}<body>${ran('none:inline')}<p id="p" style="color: rgb(1, 2, 3)">x</p></body></html>`,
    'own-inline.html': `${head(`<meta http-equiv="Content-Security-Policy" content="script-src 'self' 'unsafe-inline'">`)}<body>${ran('own-inline:inline')}</body></html>`,
    'frame.html': `${head(`<meta http-equiv="Content-Security-Policy" content="frame-ancestors *; report-uri https://third-party.example/collect">`)}<body>${ran('frame:inline')}</body></html>`,
  }

  it("inline code the page's own policy blocks stays blocked, is reported, and gets no hash", async () => {
    const { server, result, manifest } = await sealedSite(files, {})
    const v = await visit(browser, `${server.origin}/none.html`)
    try {
      expect(v.ran, describeVisit(v)).toEqual([])
      // Every policy the page carries reports it (csp-seal's header and meta hold no hash for it), its own among them.
      expect(new Set(v.violations.map((x) => x.effectiveDirective))).toEqual(new Set(['script-src-elem']))
      expect(v.violations.map((x) => x.originalPolicy)).toContain("script-src 'none'")
      // What the page's own policy allows still works: its style attribute, allowed by csp-seal's hash.
      expect(await computedStyle(v.page, '#p', 'color')).toBe('rgb(1, 2, 3)')
    } finally {
      await v.close()
    }
    expect(result.warnings).toContainEqual(
      expect.objectContaining({
        code: 'blocked-by-page-policy',
        file: 'none.html',
        line: 1,
        message: expect.stringContaining("is blocked by the page's own Content-Security-Policy meta"),
      }),
    )
    expect(manifest.pages['none.html']!.scriptHashes).toEqual([])
  })

  it("code the page's own policy allows runs, and csp-seal's policy still blocks an injected script", async () => {
    const { server } = await sealedSite(files, {})
    const v = await visit(browser, `${server.origin}/own-inline.html`)
    try {
      expect(v.ran, describeVisit(v)).toEqual(['own-inline:inline'])
      expect(v.violations, describeVisit(v)).toEqual([])
      // The page's own 'unsafe-inline' would let it run; csp-seal's hashes do not.
      await v.page.evaluate(() => {
        const script = document.createElement('script')
        script.textContent = "window.__ran.push('evil:inline')"
        document.body.append(script)
      })
      await v.collect()
      expect(v.ran).toEqual(['own-inline:inline'])
      // Blocked by csp-seal's policy (header and meta), not by the page's own.
      expect(new Set(v.violations.map((x) => x.effectiveDirective))).toEqual(new Set(['script-src-elem']))
      expect(v.violations.length).toBeGreaterThan(0)
      expect(v.violations.map((x) => x.originalPolicy)).not.toContain("script-src 'self' 'unsafe-inline'")
    } finally {
      await v.close()
    }
  })

  it("frame-ancestors and report-uri in a page's meta never reach the header: another origin cannot frame it", async () => {
    const { server, manifest, result } = await sealedSite(files, { headers: ['netlify'] })
    const header = manifest.pages['frame.html']!.headers['Content-Security-Policy']!
    expect(header).toContain("frame-ancestors 'self'")
    expect(header).not.toMatch(/frame-ancestors[^;]*\*|third-party/)
    expect(result.warnings).toContainEqual(expect.objectContaining({ code: 'meta-ignored-directive', file: 'frame.html' }))
    // A page on another origin frames it: the header's frame-ancestors 'self' refuses.
    const framer = createServer((_req, res) =>
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html><iframe id="f" src="${server.origin}/frame.html"></iframe>`),
    )
    const framerOrigin = await listen(framer)
    const v = await visit(browser, `${framerOrigin}/`)
    try {
      const child = v.page.frames().find((frame) => frame !== v.page.mainFrame())!
      const framedRan = await child.evaluate(() => (window as unknown as { __ran?: string[] }).__ran ?? []).catch(() => [])
      expect(framedRan).toEqual([])
      expect(v.consoleMessages.map((m) => m.text).join('\n')).toMatch(/frame-ancestors 'self'/)
      // The same page framed by its own origin loads: the header, not a broken page, refused the other origin.
      const self = await visit(browser, `${server.origin}/frame.html`)
      try {
        expect(self.ran).toEqual(['frame:inline'])
      } finally {
        await self.close()
      }
    } finally {
      await v.close()
    }
  })

  it("reportOnly: true never turns a page's enforced meta report-only", async () => {
    const { server, manifest } = await sealedSite(files, { reportOnly: true })
    expect(manifest.pages['none.html']!.headers['Content-Security-Policy-Report-Only']).toBeDefined()
    const v = await visit(browser, `${server.origin}/none.html`)
    try {
      expect(v.ran, describeVisit(v)).toEqual([])
      expect(v.violations.filter((x) => x.disposition === 'enforce').map((x) => x.originalPolicy)).toEqual(["script-src 'none'"])
    } finally {
      await v.close()
    }
  })
})

describe('a page that declares no charset', () => {
  const page = `<!doctype html><html><head><title>ü</title><style>#t::after { content: "✓ größer" }</style></head><body><p id="t"></p>${ran('charset:ünïcödé ✓')}</body></html>`

  it('gets <meta charset="utf-8"> before the policy, so its non-ASCII inline code runs when the server sends no charset', async () => {
    const { server, result, dir } = await sealedSite({ 'index.html': page }, {}, { contentType: 'text/html' })
    const v = await visit(browser, `${server.origin}/index.html`)
    try {
      expect(v.response?.headers()['content-type']).toBe('text/html')
      expect(v.ran, describeVisit(v)).toEqual(['charset:ünïcödé ✓'])
      expect(await v.page.evaluate(() => document.characterSet)).toBe('UTF-8')
      expect(await v.page.evaluate(() => getComputedStyle(document.querySelector('#t')!, '::after').content)).toBe('"✓ größer"')
      expect(v.violations, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
    expect(result.warnings).toContainEqual(expect.objectContaining({ code: 'charset-added', file: 'index.html' }))
    expect(await readFile(join(dir, 'index.html'), 'utf8')).toMatch(
      /^<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="[^"]+" data-csp-seal><title>ü<\/title>/,
    )
  })
})

describe("the one nonce rule: default-src 'none' is refined, a 'none' the user wrote for a family is kept", () => {
  // The page's script is allowed by its integrity hash; it inserts one <style> with the nonce it reads from the
  // csp-nonce meta (as Vite's client and CSS-in-JS runtimes do) and one without (an injection). Both texts are built
  // from values, as CSS-in-JS does, so no hash of them is in the policy: only the nonce can let one in.
  const app = `
    const nonce = document.querySelector('meta[property=csp-nonce]')?.nonce
    const rgb = (...channels) => 'rgb(' + channels.join(', ') + ')'
    const good = document.createElement('style'); good.nonce = nonce; good.textContent = '#good { color: ' + rgb(4, 5, 6) + ' }'; document.head.append(good)
    const evil = document.createElement('style'); evil.textContent = '#evil { color: ' + rgb(7, 8, 9) + ' }'; document.head.append(evil)
    document.documentElement.dataset.ran = 'app'`
  const files = { 'index.html': `${head()}<body><p id="good">g</p><p id="evil">e</p><script src="app.js"></script></body></html>`, 'app.js': app }

  async function served(policy: string) {
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-nonce-rule-'))
    cleanup.push(() => removeDir(dir))
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
    await sealDirectory(dir, { policy, nonce: true })
    const server = createServer(createMiddleware({ root: dir, nonce: true, log: () => undefined }))
    return listen(server)
  }

  it("under default-src 'none', run-time styles that carry the nonce apply, and others are blocked", async () => {
    const origin = await served("default-src 'none'")
    const v = await visit(browser, `${origin}/index.html`)
    try {
      const header = v.response!.headers()['content-security-policy']!
      expect(header).toMatch(/style-src 'nonce-[^']+'/)
      expect(await v.page.evaluate(() => document.documentElement.dataset.ran)).toBe('app')
      expect(await computedStyle(v.page, '#good', 'color')).toBe('rgb(4, 5, 6)')
      expect(await computedStyle(v.page, '#evil', 'color')).not.toBe('rgb(7, 8, 9)')
      expect(
        v.violations.map((x) => x.effectiveDirective),
        describeVisit(v),
      ).toEqual(['style-src-elem'])
    } finally {
      await v.close()
    }
  })

  it("with style-src 'none' written by the user, no nonce is added and no run-time style applies", async () => {
    const origin = await served("default-src 'none'; style-src 'none'")
    const v = await visit(browser, `${origin}/index.html`)
    try {
      expect(v.response!.headers()['content-security-policy']).toMatch(/style-src 'none'(;|$)/)
      expect(await v.page.evaluate(() => document.documentElement.dataset.ran)).toBe('app')
      expect(await computedStyle(v.page, '#good', 'color')).not.toBe('rgb(4, 5, 6)')
      expect(v.violations.map((x) => x.effectiveDirective).sort()).toEqual(['style-src-elem', 'style-src-elem'])
    } finally {
      await v.close()
    }
  })
})

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  server.keepAliveTimeout = 1000
  cleanup.push(
    () =>
      new Promise<void>((closed) => {
        server.close(() => closed())
        server.closeAllConnections()
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
