/**
 * Script text that no browser runs gets no hash: a `<script>` inside `<noscript>` (raw text with scripting on;
 * with scripting off nothing runs) and a MathML `<script>` (not a script element). A hash of it in the policy
 * would be a gadget: the same text injected into the page later as a real script would run. In real Chromium:
 * the sealed policy holds no hash of those texts, the same text injected at run time is blocked, and a page whose
 * policy does hold the hash runs the injected script (so the injection is a real test). Styles inside `<noscript>`
 * still apply with scripting off, and keep their hash.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cspHash } from '../src/csp/hash.js'
import { scanHtml } from '../src/html/scan.js'
import { fastScanHtml } from '../src/html/fast-scan.js'
import { sealDirectory } from '../src/index.js'
import { describeVisit, launchBrowser, visit, type Browser, type Page } from './support/browser.js'
import { removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const run = (id: string) => `(window.__ran = window.__ran || []).push('${id}')`
const NOSCRIPT_TEXT = run('noscript')
const MATHML_TEXT = run('mathml')
const NOSCRIPT_STYLE = '#styled{margin-left:7px}'

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>never runs</title>
<noscript><style>${NOSCRIPT_STYLE}</style></noscript></head><body>
<p id="styled">styled with scripting off</p>
<noscript><script>${NOSCRIPT_TEXT}</script><p>scripting is off</p></noscript>
<math><mi>x</mi><script>${MATHML_TEXT}</script></math>
<script>${run('page')}</script>
</body></html>`

// The same texts as scripts that run: this page's policy holds their hashes.
const CONTROL = `<!doctype html><html><head><meta charset="utf-8"><title>control</title></head><body>
<script>${NOSCRIPT_TEXT}</script><script>${MATHML_TEXT}</script>
</body></html>`

let browser: Browser
let server: StaticServer
let dir: string

beforeAll(async () => {
  browser = await launchBrowser()
  dir = await mkdtemp(join(tmpdir(), 'csp-seal-never-runs-'))
  // Two sites, sealed apart, so that no policy can take hashes from the other.
  for (const [site, html] of [
    ['site', PAGE],
    ['control', CONTROL],
  ] as const) {
    await mkdir(join(dir, site))
    await writeFile(join(dir, site, 'index.html'), html)
    await sealDirectory(join(dir, site))
  }
  server = await startStaticServer(dir)
})
afterAll(async () => {
  await server?.close()
  await browser?.close()
  if (dir) await removeDir(dir)
})

/** The policy of the page's meta tag. */
async function metaPolicy(site: string): Promise<string> {
  const html = await readFile(join(dir, site, 'index.html'), 'utf8')
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)" data-csp-seal>/.exec(html)
  expect(meta, html).not.toBeNull()
  return meta![1]!
}

/**
 * Injects `text` as a real inline `<script>` into the loaded page: 'ran' if it ran (inline scripts run as they are
 * inserted), 'blocked' once the policy's violation event for it arrives.
 */
function inject(page: Page, text: string, id: string): Promise<'ran' | 'blocked'> {
  return page.evaluate(
    ({ text, id }) =>
      new Promise<'ran' | 'blocked'>((resolve) => {
        const ran = () => ((window as unknown as { __ran?: string[] }).__ran ?? []).filter((x) => x === id).length
        const before = ran()
        document.addEventListener('securitypolicyviolation', (event) => {
          if (event.effectiveDirective.startsWith('script-src')) resolve('blocked')
        })
        const script = document.createElement('script')
        script.textContent = text
        document.body.append(script)
        if (ran() > before) resolve('ran')
      }),
    { text, id },
  )
}

describe('script text that never runs gets no hash', () => {
  it('both scanners keep it apart from the code they report', () => {
    for (const scan of [scanHtml(PAGE), fastScanHtml(PAGE)]) {
      expect(scan.inline.map((code) => code.text)).toEqual([NOSCRIPT_STYLE, run('page')])
      expect(scan.neverRuns.map((code) => [code.reason, code.text])).toEqual([
        ['noscript', NOSCRIPT_TEXT],
        ['mathml', MATHML_TEXT],
      ])
    }
  })

  it('the sealed policy holds no hash of the noscript or MathML script, and keeps the noscript style', async () => {
    const policy = await metaPolicy('site')
    expect(policy).toContain(cspHash(run('page')))
    expect(policy).toContain(cspHash(NOSCRIPT_STYLE))
    expect(policy).not.toContain(cspHash(NOSCRIPT_TEXT))
    expect(policy).not.toContain(cspHash(MATHML_TEXT))
    // The control page's policy holds them: the injections there must run.
    const control = await metaPolicy('control')
    expect(control).toContain(cspHash(NOSCRIPT_TEXT))
    expect(control).toContain(cspHash(MATHML_TEXT))
  })

  it('with scripting on, only the page script runs, with zero violations; injecting either text as a script is blocked', async () => {
    const v = await visit(browser, `${server.origin}/site/index.html`)
    try {
      expect(v.ran, describeVisit(v)).toEqual(['page'])
      expect(v.violations, describeVisit(v)).toEqual([])
      expect(await inject(v.page, NOSCRIPT_TEXT, 'noscript')).toBe('blocked')
      expect(await inject(v.page, MATHML_TEXT, 'mathml')).toBe('blocked')
      await v.collect()
      expect(v.ran).toEqual(['page'])
    } finally {
      await v.close()
    }
  })

  it('where the policy holds their hashes, the same injections run', async () => {
    const v = await visit(browser, `${server.origin}/control/index.html`)
    try {
      expect(v.ran, describeVisit(v)).toEqual(['noscript', 'mathml'])
      expect(await inject(v.page, NOSCRIPT_TEXT, 'noscript')).toBe('ran')
      expect(await inject(v.page, MATHML_TEXT, 'mathml')).toBe('ran')
      expect(v.violations, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })

  it('with scripting off, the noscript style applies under the policy', async () => {
    const v = await visit(browser, `${server.origin}/site/index.html`, { context: { javaScriptEnabled: false } })
    try {
      expect(await v.page.$eval('#styled', (element) => getComputedStyle(element).marginLeft)).toBe('7px')
      expect(v.cspConsoleErrors, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })
})
