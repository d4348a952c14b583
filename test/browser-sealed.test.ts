/**
 * The example site sealed by csp-seal, served from 127.0.0.1, in real Chromium: every page works with
 * zero CSP violations, and injected scripts, handlers, foreign scripts, inline styles and tampered
 * files are blocked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory, type CspSealConfig } from '../src/index.js'
import { computedStyle, describeVisit, launchBrowser, readExpected, visit, type Browser, type Visit } from './support/browser.js'
import { copyFixture, FIXTURES, removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const expected = readExpected(`${FIXTURES}example-site`)

let browser: Browser
let attacker: StaticServer // a second origin, serving a script the page never asked for
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  browser = await launchBrowser()
  const evil = await copyFixture('example-site')
  cleanup.push(() => removeDir(evil))
  attacker = await startStaticServer(evil, { rewrite: (path, bytes) => (path.endsWith('evil.js') ? "(window.__ran = window.__ran || []).push('evil:foreign-script')" : bytes) })
})
afterAll(async () => {
  await attacker?.close()
  await browser?.close()
  for (const undo of cleanup) await undo()
})

async function sealedSite(config: CspSealConfig, rewrite?: (path: string, bytes: Buffer) => Buffer | string) {
  const dir = await copyFixture('example-site')
  await sealDirectory(dir, config)
  const server = await startStaticServer(dir, { rewrite })
  cleanup.push(async () => {
    await server.close()
    await removeDir(dir)
  })
  return server
}

async function expectWorking(v: Visit, page: (typeof expected.pages)[number]) {
  const info = describeVisit(v)
  expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
  for (const [selector, property, value] of page.styles) {
    expect(await computedStyle(v.page, selector, property), `${page.path}: ${selector} { ${property} }`).toBe(value)
  }
  expect(v.integrityErrors, info).toEqual([])
  expect(v.pageErrors, info).toEqual([])
  expect(v.badResponses, info).toEqual([])
}

describe('sealed example site (handlers allowed by hash)', () => {
  let server: StaticServer
  beforeAll(async () => {
    server = await sealedSite({ eventHandlers: 'hash' })
  })

  for (const page of expected.pages) {
    it(`${page.path}: zero violations, every script ran, every style applied`, async () => {
      const v = await visit(browser, `${server.origin}/${page.path}`)
      try {
        await expectWorking(v, page)
        expect(v.violations, describeVisit(v)).toEqual([])
        expect(v.cspConsoleErrors, describeVisit(v)).toEqual([])
      } finally {
        await v.close()
      }
    })
  }
})

describe('sealed example site (default: handlers reported, not allowed)', () => {
  let server: StaticServer
  beforeAll(async () => {
    server = await sealedSite({})
  })

  it('blocks exactly the reported inline handlers and nothing else', async () => {
    for (const page of expected.pages) {
      const v = await visit(browser, `${server.origin}/${page.path}`)
      try {
        await expectWorking(v, page)
        const handlers = page.exercises.includes('event-handlers') ? 3 : 0
        expect(v.violations.map((x) => x.effectiveDirective), describeVisit(v)).toEqual(Array(handlers).fill('script-src-attr'))
      } finally {
        await v.close()
      }
    }
  })
})

describe('attacks on a sealed page are blocked', () => {
  const payload = (foreign: string) =>
    [
      "<script>(window.__ran = window.__ran || []).push('evil:inline')</script>",
      `<img id="evil-img" src="data:," onerror="(window.__ran = window.__ran || []).push('evil:handler')">`,
      `<script src="${foreign}/evil.js"></script>`,
      '<style>#evil-target { color: rgb(255, 0, 0) }</style>',
      '<p id="evil-target" style="outline-color: rgb(255, 0, 0)">injected</p>',
    ].join('')
  let server: StaticServer
  beforeAll(async () => {
    // The attacker's markup lands in the served HTML after sealing, as stored XSS would; assets/app.js is altered in transit.
    server = await sealedSite({}, (path, bytes) => {
      if (path.endsWith('.html')) {
        const html = bytes.toString()
        const end = html.lastIndexOf('</body>')
        return end === -1 ? html + payload(attacker.origin) : html.slice(0, end) + payload(attacker.origin) + html.slice(end)
      }
      if (path === '/assets/app.js') return `${bytes};(window.__ran = window.__ran || []).push('evil:tampered')`
      return bytes
    })
  })

  for (const path of ['index.html', 'features.html', 'docs/guide/index.html', 'no-head.html']) {
    it(`${path}: injected script, handler, foreign script, style and tampered file do nothing`, async () => {
      const page = expected.pages.find((p) => p.path === path)!
      const v = await visit(browser, `${server.origin}/${path}`)
      try {
        const info = describeVisit(v)
        expect(v.ran.filter((id) => id.startsWith('evil:')), info).toEqual([])
        // Everything the page itself ships still works, except the tampered file, which SRI refused.
        expect([...v.ran].sort(), info).toEqual(page.ran.filter((id) => id !== 'assets/app.js').sort())
        expect(v.integrityErrors.join('\n'), info).toMatch(/assets\/app\.js/)
        expect(await computedStyle(v.page, '#evil-target', 'color')).not.toBe('rgb(255, 0, 0)')
        expect(await computedStyle(v.page, '#evil-target', 'outline-color')).not.toBe('rgb(255, 0, 0)')
        const blocked = v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`)
        expect(blocked, info).toEqual(
          expect.arrayContaining(['script-src-elem inline', 'script-src-attr inline', `script-src-elem ${attacker.origin}/evil.js`, 'style-src-elem inline', 'style-src-attr inline']),
        )
        // Script injected into the DOM at run time is blocked too.
        const ranLate = await v.page.evaluate(() => {
          const s = document.createElement('script')
          s.textContent = "(window.__ran = window.__ran || []).push('evil:dom')"
          document.body.append(s)
          return (window as unknown as { __ran: string[] }).__ran.includes('evil:dom')
        })
        expect(ranLate).toBe(false)
      } finally {
        await v.close()
      }
    })
  }
})
