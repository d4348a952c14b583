import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { startServe } from '../src/cli/serve.js'
import { resolveConfig } from '../src/config.js'
import { BrowserSetupError, findBrowser, loadDriver } from '../src/crawl/browser.js'
import { nextLearned, staleEntries } from '../src/crawl/learn.js'
import { fixFor, oncePerAction, pairHashes, parseConsoleCsp, type Violation } from '../src/crawl/violations.js'
import { cspHash } from '../src/csp/hash.js'
import { learnedHashes, parseLearned, readLearnedHashes, type LearnedFile } from '../src/site/learned.js'
import { SealError } from '../src/problems.js'
import { cp } from 'node:fs/promises'
import { useChromium, visit, type CspViolation, type Page } from './support/browser.js'
import { FIXTURES, useTempDirs } from './support/sites.js'

const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const CHROMIUM = '/usr/bin/chromium'
const { track } = useTempDirs()

/** A copy of a fixture folder (nested names too) in a fresh temp folder: the crawl's sites are sealed as copies. */
async function copyFixture(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `csp-seal-${name.replace(/\//g, '-')}-`))
  await cp(join(FIXTURES, name), dir, { recursive: true })
  return dir
}

interface Run {
  code: number
  out: string
  err: string
}

function run(args: string[], cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile('node', [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 }, (error, out, err) => {
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err })
    })
  })
}

interface CrawlReport {
  violations: Violation[]
  errors: Array<{ message: string }>
  stale: Array<{ hash: string }>
  pagesOpened: number
  clicks: number
  cut: string | null
}

async function crawl(site: string, cwd: string, ...flags: string[]): Promise<{ run: Run; report: CrawlReport }> {
  const result = await run(['crawl', site, '--browser', CHROMIUM, '--report', 'crawl.json', ...flags], cwd)
  return { run: result, report: JSON.parse(await readFile(join(cwd, 'crawl.json'), 'utf8')) as CrawlReport }
}

async function seal(site: string, cwd: string, ...flags: string[]): Promise<Run> {
  const result = await run([site, ...flags], cwd)
  expect(result.code, result.err).toBe(0)
  return result
}

const hashesOf = (violations: Violation[], directive: string) => new Set(violations.filter((v) => v.directive === directive).map((v) => v.hash))

/** The policy csp-seal wrote into a sealed page's meta. */
async function sealedPolicy(site: string, page: string): Promise<string> {
  const html = await readFile(join(site, page), 'utf8')
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)" data-csp-seal>/.exec(html)
  expect(meta, `${page} has csp-seal's policy meta`).not.toBeNull()
  return meta![1]!.replace(/&#39;/g, "'")
}

// The texts the fixtures' scripts insert: the theme and the panel's style as the browser builds them from the
// pages' data attributes, the badge as its script spells it out.
const THEME = '.title { color: rgb(0, 128, 0); letter-spacing: 2px; }'
const PANEL = 'border: 3px solid rgb(0, 128, 128); padding: 4px'
const BADGE = '.badge { font-weight: 700; }'
const SNIPPET = "document.getElementById('counter').textContent = 'counted'"

describe('Chromium console messages and violation events', () => {
  it('reads the hash Chromium states for blocked inline code', () => {
    const message =
      "Applying inline style violates the following Content Security Policy directive 'style-src 'self''. Either the 'unsafe-inline' keyword, a hash ('sha256-fZknfjqviCS6LuTCyIOvQUb+91BeoGAweag0GmdicjY='), or a nonce ('nonce-...') is required to enable inline execution. The action has been blocked."
    expect(parseConsoleCsp(message)).toEqual({ inline: 'style', hash: "'sha256-fZknfjqviCS6LuTCyIOvQUb+91BeoGAweag0GmdicjY='" })
    expect(
      parseConsoleCsp(
        "Executing inline script violates the following Content Security Policy directive 'script-src 'self''. Either the 'unsafe-inline' keyword, a hash ('sha256-abc='), or a nonce",
      ),
    ).toEqual({ inline: 'script', hash: "'sha256-abc='" })
    expect(parseConsoleCsp('Failed to load resource: 404')).toBeUndefined()
  })

  it('pairs each inline event with the message of its kind, in order', () => {
    const ev = (directive: string, blocked = 'inline') => ({ directive, blocked, sample: '', documentUrl: 'http://127.0.0.1/' })
    const hashes = pairHashes(
      [ev('script-src-elem'), ev('style-src-elem'), ev('img-src', 'http://127.0.0.1/x.png'), ev('style-src-attr')],
      [{ inline: 'style', hash: "'sha256-a'" }, { inline: 'style', hash: "'sha256-b'" }, { inline: 'script', hash: "'sha256-c'" }, {}],
    )
    expect(hashes).toEqual(["'sha256-c'", "'sha256-a'", undefined, "'sha256-b'"])
  })

  it('counts an action once when two policies (header and meta) each report it', () => {
    const ev = (policy: string, line = 7, directive = 'style-src-attr') => ({
      directive,
      blocked: 'inline',
      sample: '',
      source: 'http://127.0.0.1/router.js',
      line,
      documentUrl: 'http://127.0.0.1/',
      policy,
    })
    // Two actions on one line under two policies; then one action under one policy; then another directive.
    expect(oncePerAction([ev('header'), ev('meta'), ev('header'), ev('meta'), ev('meta', 8), ev('meta', 8, 'style-src-elem')])).toEqual([
      true,
      false,
      true,
      false,
      true,
      true,
    ])
    // With one policy, every event is an action of its own.
    expect(oncePerAction([ev('meta'), ev('meta'), ev('meta')])).toEqual([true, true, true])
  })

  it('gives a fix for each kind of violation', () => {
    expect(fixFor({ directive: 'style-src-elem', blocked: 'inline', hash: "'sha256-a'" }, 'csp-seal.learned.json')).toContain('csp-seal crawl --learn')
    expect(fixFor({ directive: 'script-src-elem', blocked: 'inline' }, 'x')).toContain('learned: { scripts: true }')
    expect(fixFor({ directive: 'script-src', blocked: 'eval' }, 'x')).toContain('eval')
    expect(fixFor({ directive: 'img-src', blocked: 'https://cdn.example/a.png' }, 'x')).toMatch(/https:\/\/cdn\.example .*add it to img-src/)
  })
})

describe('the learned file', () => {
  const violation = (directive: string, hash: string, page = '/a.html'): Violation => ({
    directive,
    blocked: 'inline',
    sample: '',
    hash,
    page,
    path: [page],
    how: 'load',
  })

  it('keeps what the crawl saw, drops stale entries, and sorts', () => {
    const previous: LearnedFile = {
      version: 1,
      hashes: [
        { hash: "'sha256-old='", directive: 'style-src-elem', seen: [] },
        { hash: "'sha256-kept='", directive: 'style-src-attr', seen: [] },
      ],
    }
    const next = nextLearned(
      previous,
      [violation('style-src-elem', "'sha256-new='"), violation('style-src-elem', "'sha256-new='", '/b.html')],
      new Set(["'sha256-kept='"]),
    )
    expect(next.hashes.map((h) => h.hash)).toEqual(["'sha256-kept='", "'sha256-new='"])
    expect(next.hashes[1]!.seen.map((s) => s.page)).toEqual(['/a.html', '/b.html'])
    expect(staleEntries(previous, new Set(["'sha256-kept='"])).map((h) => h.hash)).toEqual(["'sha256-old='"])
  })

  it('adds script hashes only when asked, and never one seen only after an injection', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            directive: fc.constantFrom('script-src-elem', 'script-src-attr', 'style-src-elem', 'style-src-attr' as const),
            injected: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
          }),
          { maxLength: 12 },
        ),
        fc.boolean(),
        (entries, scripts) => {
          const file: LearnedFile = {
            version: 1,
            hashes: entries.map((e, i) => ({
              hash: `'sha256-${i}='`,
              directive: e.directive,
              seen: e.injected.map((injected) => ({ page: '/', path: ['/'], how: 'load' as const, injected })),
            })),
          }
          const { extra } = learnedHashes(file, 'f', scripts)
          const added = new Set([...extra.scripts!, ...extra.scriptAttributes!])
          for (const [i, e] of entries.entries()) {
            const hash = `'sha256-${i}='`
            if (e.directive.startsWith('style')) expect([...extra.styles!, ...extra.styleAttributes!]).toContain(hash)
            else expect(added.has(hash)).toBe(scripts && e.injected.includes(false))
          }
        },
      ),
    )
  })

  it('a learned file the config names must exist; the default one may be missing', async () => {
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-learned-')))
    expect(readLearnedHashes({ learned: { scripts: false } }, cwd)).toBeUndefined()
    expect(() => readLearnedHashes({ learned: { file: 'named.json', scripts: false } }, cwd)).toThrow(
      /named\.json[\s\S]*cannot read the learned file \(ENOENT\)/,
    )
  })

  it('csp-seal crawl refuses a learned file that is not one with exit 1, naming the file, before it looks for a browser', async () => {
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-learned-')))
    await writeFile(join(cwd, 'csp-seal.learned.json'), '{ "version": 1, ')
    const result = await run(['crawl', 'dist', '--browser', '/nonexistent/chrome'], cwd)
    expect(result.code, result.err).toBe(1)
    expect(result.err).toMatch(/csp-seal\.learned\.json: not valid JSON/)
    expect(result.err).toContain('csp-seal crawl --learn')
  })

  it('refuses a file that is not one, naming it', () => {
    expect(() => parseLearned('{', 'l.json')).toThrow(SealError)
    expect(() => parseLearned(JSON.stringify({ version: 1, hashes: [{ hash: 'sha256-x', directive: 'style-src', seen: [] }] }), 'l.json')).toThrow(
      /l\.json|entry 1/,
    )
    expect(() => parseLearned(JSON.stringify({ version: 2, hashes: [] }), 'l.json')).toThrow(/version 1/)
    expect(() => resolveConfig({ learned: { scripts: 'yes' as unknown as boolean } })).toThrow(/learned.scripts/)
    expect(resolveConfig({}).learned).toEqual({ scripts: false })
    expect(resolveConfig({ learned: false }).learned).toBe(false)
  })
})

describe('browser and driver', () => {
  it('says how to get a browser or the driver when missing', async () => {
    expect(() => findBrowser(undefined, ['/nonexistent/chrome'])).toThrow(/no Chrome, Chromium or Edge found.*--browser PATH/)
    expect(() => findBrowser('/nonexistent/chrome')).toThrow(BrowserSetupError)
    expect(findBrowser(undefined, ['/nonexistent/chrome', CHROMIUM])).toBe(CHROMIUM)
    const missing = Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' })
    await expect(loadDriver(() => Promise.reject(missing))).rejects.toThrow(/npm install --save-dev playwright-core/)
  })

  it('exits 2 with the message when --browser does not exist', async () => {
    const site = track(await copyFixture('crawl/router-site'))
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-crawl-cwd-')))
    await seal(site, cwd)
    const result = await run(['crawl', site, '--browser', '/nonexistent/chrome'], cwd)
    expect(result.code).toBe(2)
    expect(result.err).toContain('[no-browser] --browser /nonexistent/chrome does not exist')
  })
})

describe('csp-seal crawl in Chromium', () => {
  const chromium = useChromium()

  /** Opens a page of a sealed folder served as deployed; runs `body`; the directives of the violations it reported. */
  async function visitServed<T>(site: string, path: string, body: (page: Page) => Promise<T>): Promise<{ value: T; violations: string[] }> {
    const server = await startServe({ root: site, port: 0, io: { out: () => undefined, err: () => undefined } })
    try {
      const opened = await visit(chromium.browser(), new URL(path, server.url).href)
      try {
        const value = await body(opened.page)
        await opened.collect()
        return { value, violations: opened.violations.map((v) => v.effectiveDirective) }
      } finally {
        await opened.close()
      }
    } finally {
      await server.close()
    }
  }

  it('reports styles and scripts a site inserts at run time with their hashes; after learning, the styles pass and the script stays blocked', async () => {
    const site = track(await copyFixture('crawl/runtime-styles'))
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-crawl-cwd-')))
    await seal(site, cwd)
    // The badge's style is in the script's text: sealing allowed it already, and the crawl never reports it.
    expect(await sealedPolicy(site, 'widget.html')).toContain(cspHash(BADGE))

    const first = await crawl(site, cwd)
    expect(first.run.code, first.run.out + first.run.err).toBe(1)
    // Every page opened, and more than one click: the crawl was not cut short.
    expect(first.report.cut, first.run.out).toBeNull()
    expect(first.report.pagesOpened).toBe(4)
    // Four link targets and three toggles, each clicked once: the home page's <details>, shown again when
    // greet.html's link leads back home, and widget.html's panel button, shown again when widget.html is opened, are
    // not clicked a second time; stats.html's <details>, with the home page's summary but content of its own, is.
    expect(first.report.clicks).toBe(7)
    expect(hashesOf(first.report.violations, 'style-src-elem')).toEqual(new Set([cspHash(THEME)]))
    expect(hashesOf(first.report.violations, 'style-src-attr')).toEqual(new Set([cspHash(PANEL)]))
    expect(hashesOf(first.report.violations, 'script-src-elem')).toEqual(new Set([cspHash(SNIPPET)]))
    // The panel's style is set by a click on its toggle: found by clicking it, with the path that led there.
    const panel = first.report.violations.find((v) => v.directive === 'style-src-attr' && v.page === '/widget.html')!
    expect(panel.path.at(-1)).toBe('click button[aria-expanded]')
    expect(first.run.out).toContain(`style-src-elem blocked inline ${cspHash(THEME)}`)

    const learning = await crawl(site, cwd, '--learn')
    expect(learning.run.code).toBe(1)
    const learned = JSON.parse(await readFile(join(cwd, 'csp-seal.learned.json'), 'utf8')) as LearnedFile
    expect(learned.hashes.map((h) => `${h.directive} ${h.hash}`).sort()).toEqual(
      [`script-src-elem ${cspHash(SNIPPET)}`, `style-src-attr ${cspHash(PANEL)}`, `style-src-elem ${cspHash(THEME)}`].sort(),
    )
    expect(learned.hashes.every((h) => h.seen.length > 0 && h.seen.every((s) => s.injected === false))).toBe(true)
    // A learned entry the site no longer produces is stale: the next crawl reports it, and --learn removes it.
    const stale = "'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='"
    learned.hashes.push({ hash: stale, directive: 'style-src-elem', seen: [{ page: '/gone.html', path: ['/gone.html'], how: 'load', injected: false }] })
    await writeFile(join(cwd, 'csp-seal.learned.json'), JSON.stringify(learned))

    const resealed = await seal(site, cwd)
    expect(resealed.out).toMatch(/learned +3 style and 0 script hashes from .*csp-seal\.learned\.json; 1 script hash left out/)
    // The learned hashes join the ones read from the scripts: the page's policy holds both.
    const policy = await sealedPolicy(site, 'widget.html')
    for (const hash of [cspHash(BADGE), cspHash(THEME), cspHash(PANEL)]) expect(policy).toContain(hash)
    expect(policy).not.toContain(cspHash(SNIPPET))
    const second = await crawl(site, cwd)
    // Script hashes are not learned by default: the inserted script is still reported.
    expect(second.run.code).toBe(1)
    expect(second.report.violations.map((v) => v.directive)).toEqual(second.report.violations.map(() => 'script-src-elem'))
    expect(second.report.violations.length).toBeGreaterThan(0)
    expect(second.report.stale.map((e) => e.hash)).toEqual([stale])
    expect(second.run.out).toContain(`[learned-stale] style-src-elem ${stale}`)

    await writeFile(join(cwd, 'csp-seal.config.json'), JSON.stringify({ learned: { scripts: true } }))
    await seal(site, cwd)
    const third = await crawl(site, cwd, '--learn')
    expect(third.run.code, third.run.out).toBe(0)
    expect(third.report.violations).toEqual([])
    expect(third.report.errors).toEqual([])
    expect(third.run.out).toContain('violations      none')
    expect(third.run.out).toContain('removed from the file')
    const rewritten = JSON.parse(await readFile(join(cwd, 'csp-seal.learned.json'), 'utf8')) as LearnedFile
    expect(rewritten.hashes.map((h) => h.hash)).not.toContain(stale)
    expect(rewritten.hashes).toHaveLength(3)

    // The pages work: the inserted theme applies, the panel opens with its style, the inserted script ran.
    const widget = await visitServed(site, 'widget.html', async (page) => {
      await page.click('#toggle')
      return page.evaluate(() => ({
        title: getComputedStyle(document.querySelector('.title')!).color,
        panel: getComputedStyle(document.getElementById('panel')!).borderTopColor,
        badge: getComputedStyle(document.querySelector('.badge')!).fontWeight,
      }))
    })
    expect(widget.value).toEqual({ title: 'rgb(0, 128, 0)', panel: 'rgb(0, 128, 128)', badge: '700' })
    expect(widget.violations).toEqual([])
    const stats = await visitServed(site, 'stats.html', (page) =>
      page.waitForFunction(() => document.getElementById('counter')!.textContent === 'counted').then(() => true),
    )
    expect(stats.violations).toEqual([])

    // An attack: script injected through the page's own injection point stays blocked.
    const payload = encodeURIComponent('<img src="x.png" onerror="window.pwned = 1">')
    const attack = await visitServed(site, `greet.html#${payload}`, async (page) => {
      await page.waitForFunction(() =>
        (window as unknown as { __cspViolations: CspViolation[] }).__cspViolations.some((v) => v.effectiveDirective === 'script-src-attr'),
      )
      return page.evaluate(() => (window as unknown as { pwned?: number }).pwned)
    })
    expect(attack.value).toBeUndefined()

    // At site scope the learned hashes join the union of every page's hashes and the scripts' styles.
    const siteScope = await seal(site, cwd, '--scope', 'site')
    expect(siteScope.out).toMatch(/learned +2 style and 1 script hashes from/)
    const everyPage = await sealedPolicy(site, 'index.html')
    for (const hash of [cspHash(BADGE), cspHash(THEME), cspHash(PANEL), cspHash(SNIPPET)]) expect(everyPage).toContain(hash)
    const atSiteScope = await crawl(site, cwd)
    expect(atSiteScope.report.violations).toEqual([])
    expect(atSiteScope.run.code, atSiteScope.run.out).toBe(0)
  })

  it("reaches a client router's views by clicking, reports the other pages' style attributes; after learning, the views work", async () => {
    const site = track(await copyFixture('crawl/router-site'))
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-crawl-cwd-')))
    await seal(site, cwd)
    const first = await crawl(site, cwd)
    expect(first.run.code, first.run.out + first.run.err).toBe(1)
    const about = first.report.violations.filter((v) => v.page === '/about.html' && v.path[0] === '/')
    expect(about.map((v) => v.path)).toContainEqual(['/', 'click a[href="/about.html"]'])
    // The router blocks the card's style twice (parsing the fetched page, then inserting its content), each once,
    // although the page is served with its policy in a header and in its meta.
    expect(about.map((v) => v.source)).toEqual(['/router.js:6', '/router.js:7'])
    expect(new Set(about.map((v) => v.hash))).toEqual(new Set([cspHash('border: 2px solid rgb(102, 51, 153)')]))
    const attributes = ['font-style: italic', 'border: 2px solid rgb(102, 51, 153)', 'color: rgb(200, 0, 0)'].map((text) => cspHash(text))
    expect(first.report.violations.every((v) => v.directive === 'style-src-attr' && attributes.includes(v.hash!))).toBe(true)
    expect(hashesOf(first.report.violations, 'style-src-attr')).toEqual(new Set(attributes))

    await crawl(site, cwd, '--learn')
    await seal(site, cwd)
    const second = await crawl(site, cwd)
    expect(second.run.code, second.run.out).toBe(0)
    expect(second.report.violations).toEqual([])

    const routed = await visitServed(site, '/', async (page) => {
      await page.click('nav a[href="/about.html"]')
      await page.waitForFunction(() => document.body.dataset.routed === '/about.html')
      return page.evaluate(() => ({ url: location.pathname, border: getComputedStyle(document.querySelector('.card')!).borderTopColor }))
    })
    expect(routed.value).toEqual({ url: '/about.html', border: 'rgb(102, 51, 153)' })
    expect(routed.violations).toEqual([])
  })

  it('finds on the example site, sealed, only the inline event handlers the sealing run warned about', async () => {
    const site = track(await copyFixture('example-site'))
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-crawl-cwd-')))
    const sealed = await seal(site, cwd)
    expect(sealed.out).toMatch(/interactive\.html:\d+:\d+: inline event handler/)
    const result = await crawl(site, cwd)
    // The example site keeps on…= handlers on purpose (the policy blocks them; sealing warns): nothing else is blocked.
    expect(result.report.violations.length).toBeGreaterThan(0)
    expect(result.report.violations.filter((v) => !(v.directive === 'script-src-attr' && v.page === '/interactive.html'))).toEqual([])
    expect(result.run.code).toBe(1)
    expect(result.run.out).toContain('script-src-attr blocked inline')
  })

  it('stays within --max-pages and --max-clicks, says where it stopped, and never leaves the site', async () => {
    // Another origin on this machine, counting what reaches it: the site links to it from its home page, and loads an
    // image from it by two names, which the site's policy allows (so only the crawl can keep the requests at home).
    const foreignRequests: string[] = []
    const foreign = createServer((request, response) => {
      foreignRequests.push(request.url!)
      response.end('<!doctype html><title>elsewhere</title><a href="/">x</a>')
    })
    await new Promise<void>((done) => foreign.listen(0, '127.0.0.1', done))
    try {
      const site = track(await copyFixture('crawl/runtime-styles'))
      const home = join(site, 'index.html')
      const port = (foreign.address() as AddressInfo).port
      const elsewhere = [`http://127.0.0.1:${port}`, `http://localhost:${port}`]
      await writeFile(
        home,
        (await readFile(home, 'utf8')).replace(
          '</body>',
          `<a href="${elsewhere[0]}/elsewhere">elsewhere</a>${elsewhere.map((origin) => `<img src="${origin}/image.png" alt="">`).join('')}</body>`,
        ),
      )
      const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-crawl-cwd-')))
      await seal(site, cwd, '--policy', `img-src 'self' ${elsewhere.join(' ')}`)

      // The home page is opened first and every link on it clicked, the other origin's too if it were followed.
      const pages = await crawl(site, cwd, '--max-pages', '2')
      expect(pages.report.pagesOpened).toBe(2)
      expect(pages.report.cut).toBe('--max-pages 2 reached (2 pages not opened)')
      expect(pages.run.out).toContain('stopped early   --max-pages 2 reached (2 pages not opened): raise the limit to crawl the rest')

      const clicks = await crawl(site, cwd, '--max-clicks', '1')
      expect(clicks.report.clicks).toBe(1)
      expect(clicks.report.cut).toBe('--max-clicks 1 reached')

      // Same origin only: the link to the other origin was never followed, by a click or by opening it, and no
      // request reached it, although the page's policy allows its images (no img-src violation).
      expect(pages.report.violations.filter((v) => v.directive === 'img-src')).toEqual([])
      expect(foreignRequests).toEqual([])
    } finally {
      await new Promise((done) => foreign.close(done))
    }
  })

  it('refuses a limit that is not a whole number of at least 1, with exit 2', async () => {
    const site = track(await copyFixture('crawl/runtime-styles'))
    const cwd = track(await mkdtemp(join(tmpdir(), 'csp-seal-crawl-cwd-')))
    for (const [flag, value] of [
      ['--max-pages', '0'],
      ['--max-clicks', 'many'],
      ['--budget', '1.5'],
    ]) {
      const result = await run(['crawl', site, '--browser', CHROMIUM, flag!, value!], cwd)
      expect(result.code, result.err).toBe(2)
      // cac reads a number-like value as a number: "many" is quoted, 0 and 1.5 are not.
      expect(result.err).toContain(`${flag} must be a whole number of at least 1, not ${Number.isNaN(Number(value)) ? JSON.stringify(value) : value}`)
    }
  })
})
