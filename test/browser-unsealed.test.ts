/**
 * The example site, served UNSEALED (no CSP anywhere except the page's own `img-src` meta), in real Chromium.
 * Proves the fixture and the harness before any sealing exists: every expected script runs, every style
 * applies, nothing is blocked. Then proves the harness does notice a block when there is one.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { computedStyle, describeVisit, launchBrowser, readExpected, visit, type Browser } from './support/browser.js'
import { copyFixture, FIXTURES, removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const expected = readExpected(path.join(FIXTURES, 'example-site'))

// A copy of the fixture, served as it is: the fixture itself is never served or changed.
let siteDir: string
beforeAll(async () => {
  siteDir = await copyFixture('example-site')
})
afterAll(async () => {
  if (siteDir) await removeDir(siteDir)
})

const BROWSER_TIMEOUT = 60_000

async function listHtmlFiles(dir: string, base = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = base ? `${base}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await listHtmlFiles(path.join(dir, entry.name), rel)))
    else if (/\.html?$/i.test(entry.name)) out.push(rel)
  }
  return out.sort()
}

describe('example site, unsealed, in Chromium', () => {
  let browser: Browser
  let server: StaticServer

  beforeAll(async () => {
    browser = await launchBrowser()
    server = await startStaticServer(siteDir)
  })

  afterAll(async () => {
    await server?.close()
    await browser?.close()
  })

  it('EXPECTED.json lists every HTML page of the site, with unique script ids', async () => {
    const files = await listHtmlFiles(siteDir)
    expect(expected.pages.map((p) => p.path).sort()).toEqual(files)
    for (const page of expected.pages) {
      const inline = page.ran.filter((id) => !id.includes('/'))
      expect(new Set(page.ran).size, `${page.path}: duplicate ids in "ran"`).toBe(page.ran.length)
      expect(
        page.inert.filter((id) => page.ran.includes(id)),
        `${page.path}: inert ids also in "ran"`,
      ).toEqual([])
      expect(inline.length + page.inert.length, `${page.path}: nothing to check`).toBeGreaterThan(0)
      expect(page.styles.length, `${page.path}: no style checks`).toBeGreaterThan(0)
    }
  })

  for (const page of expected.pages) {
    it(
      `${page.path}: every script runs, every style applies, no CSP violation`,
      async () => {
        const v = await visit(browser, `${server.origin}/${page.path}`)
        try {
          const info = describeVisit(v)
          expect(v.response?.status(), info).toBe(200)
          expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
          for (const id of page.inert) expect(v.ran, info).not.toContain(id)
          for (const [selector, property, value] of page.styles) {
            expect(await computedStyle(v.page, selector, property), `${page.path}: ${selector} { ${property} }`).toBe(value)
          }
          expect(v.violations, info).toEqual([])
          expect(v.cspConsoleErrors, info).toEqual([])
          expect(v.integrityErrors, info).toEqual([])
          expect(v.pageErrors, info).toEqual([])
          expect(
            v.consoleMessages.filter((m) => m.type === 'error'),
            info,
          ).toEqual([])
          expect(v.badResponses, info).toEqual([])
          expect(v.failedRequests, info).toEqual([])
        } finally {
          await v.close()
        }
      },
      BROWSER_TIMEOUT,
    )
  }
})

describe('harness', () => {
  let browser: Browser
  let tmp: string
  let server: StaticServer
  let headerServer: StaticServer

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'csp-seal-harness-'))
    await writeFile(
      path.join(tmp, 'blocked.html'),
      [
        '<!doctype html>',
        '<html><head>',
        '<meta charset="utf-8">',
        `<meta http-equiv="Content-Security-Policy" content="script-src 'none'">`,
        '<title>blocked</title>',
        '<script>(window.__ran = window.__ran || []).push("blocked-inline")</script>',
        '</head><body>',
        // The srcdoc document inherits the policy: its script is blocked too, in a child frame.
        `<iframe srcdoc="<script>(parent.__ran = parent.__ran || []).push('blocked-srcdoc')</script>"></iframe>`,
        '</body></html>',
        '',
      ].join('\n'),
    )
    await writeFile(
      path.join(tmp, 'late.html'),
      [
        '<!doctype html>',
        '<meta charset="utf-8">',
        '<title>late</title>',
        '<p id="x">late</p>',
        // The header allows 'self' scripts only: late.js runs, then injects an inline script after the load event,
        // which is blocked.
        '<script src="late.js"></script>',
        '',
      ].join('\n'),
    )
    await writeFile(
      path.join(tmp, 'late.js'),
      [
        "(window.__ran = window.__ran || []).push('late.js');",
        'setTimeout(function () {',
        "  var s = document.createElement('script');",
        '  s.textContent = "(window.__ran = window.__ran || []).push(\'late-inline\')";',
        '  document.body.appendChild(s);',
        '}, 400);',
        '',
      ].join('\n'),
    )
    browser = await launchBrowser()
    server = await startStaticServer(tmp)
    headerServer = await startStaticServer(tmp, {
      headers: (urlPath) => (urlPath.endsWith('.html') ? { 'Content-Security-Policy': "script-src 'self'" } : {}),
    })
  })

  afterAll(async () => {
    await server?.close()
    await headerServer?.close()
    await browser?.close()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it(
    'records a securitypolicyviolation (top document and srcdoc frame) and the blocked script does not run',
    async () => {
      const v = await visit(browser, `${server.origin}/blocked.html`)
      try {
        const info = describeVisit(v)
        expect(v.ran, info).toEqual([])
        const top = v.violations.filter((x) => !x.inFrame)
        const framed = v.violations.filter((x) => x.inFrame)
        expect(top.length, info).toBe(1)
        expect(top[0]).toMatchObject({ blockedURI: 'inline', effectiveDirective: 'script-src-elem', disposition: 'enforce' })
        expect(top[0]?.originalPolicy).toBe("script-src 'none'")
        expect(framed.length, info).toBe(1)
        expect(framed[0]).toMatchObject({ blockedURI: 'inline', effectiveDirective: 'script-src-elem', frameUrl: 'about:srcdoc' })
        // Chromium 156 words it "Executing inline script violates the following Content Security Policy directive …"
        // (older versions: "Refused to execute inline script because it violates …").
        expect(
          v.cspConsoleErrors.some((t) => /inline script/i.test(t)),
          info,
        ).toBe(true)
      } finally {
        await v.close()
      }
    },
    BROWSER_TIMEOUT,
  )

  it(
    'counts violations that fire after load, with a header-delivered policy',
    async () => {
      const v = await visit(browser, `${headerServer.origin}/late.html`, { waitFor: 800 })
      try {
        const info = describeVisit(v)
        expect(v.response?.headers()['content-security-policy']).toBe("script-src 'self'")
        expect(v.ran, info).toEqual(['late.js'])
        expect(v.violations.length, info).toBe(1)
        expect(v.violations[0]).toMatchObject({ blockedURI: 'inline', effectiveDirective: 'script-src-elem' })

        // A block caused after visit() returned is seen by collect(), and kept after the page navigates away.
        await v.page.evaluate(() => {
          const s = document.createElement('script')
          s.textContent = "(window.__ran = window.__ran || []).push('later-inline')"
          document.body.appendChild(s)
        })
        await v.collect()
        expect(v.violations.length, describeVisit(v)).toBe(2)
        expect(v.ran).toEqual(['late.js'])
        await v.page.goto(`${headerServer.origin}/late.js`)
        await v.collect()
        expect(v.violations.length, describeVisit(v)).toBe(2)
      } finally {
        await v.close()
      }
    },
    BROWSER_TIMEOUT,
  )
})

describe('static server', () => {
  let server: StaticServer

  beforeAll(async () => {
    server = await startStaticServer(siteDir, {
      cors: true,
      headers: (urlPath) => ({ 'X-Served-Path': urlPath }),
      rewrite: (urlPath, bytes) => (urlPath === '/assets/app.js' ? Buffer.concat([bytes, Buffer.from('\n// tampered\n')]) : bytes),
    })
  })

  afterAll(async () => {
    await server?.close()
  })

  it('serves files with content types, index.html for directories, and 404s', async () => {
    const html = await fetch(`${server.origin}/docs/guide/`)
    expect(html.status).toBe(200)
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(html.headers.get('x-served-path')).toBe('/docs/guide/index.html')
    expect(html.headers.get('access-control-allow-origin')).toBe('*')
    expect(await html.text()).toContain('Getting started')

    const redirect = await fetch(`${server.origin}/docs/guide?x=1`, { redirect: 'manual' })
    expect(redirect.status).toBe(301)
    expect(redirect.headers.get('location')).toBe('/docs/guide/?x=1')

    const types: Record<string, string> = {
      '/legacy.htm': 'text/html; charset=utf-8',
      '/assets/app.js?v=3': 'text/javascript; charset=utf-8',
      '/assets/site.css': 'text/css; charset=utf-8',
      '/assets/logo.svg': 'image/svg+xml',
      '/EXPECTED.json': 'application/json; charset=utf-8',
      '/favicon.ico': 'image/x-icon',
    }
    for (const [url, type] of Object.entries(types)) {
      const res = await fetch(server.origin + url)
      expect(res.status, url).toBe(200)
      expect(res.headers.get('content-type'), url).toBe(type)
    }

    const tampered = await (await fetch(`${server.origin}/assets/app.js`)).text()
    expect(tampered.endsWith('// tampered\n')).toBe(true)

    expect((await fetch(`${server.origin}/nope.html`)).status).toBe(404)
    expect((await fetch(`${server.origin}/assets/`)).status).toBe(404)
  })

  it('never serves anything outside the directory', async () => {
    const { request } = await import('node:http')
    // fetch() normalises '..' away, so send raw request targets.
    const raw = (target: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(server.origin)
        const req = request({ host: url.hostname, port: url.port, path: target, method: 'GET' }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
      })
    for (const target of [
      '/../package.json',
      '/../../fixtures/example-site/index.html',
      '/assets/../../package.json',
      '/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/..%5cpackage.json',
      '/assets%2f..%2f..%2fpackage.json',
      '/index.html%00.png',
      '/%E0%A4%A',
    ]) {
      const status = await raw(target)
      expect([400, 404], target).toContain(status)
    }
  })
})
