import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { cspHash } from '../csp/hash.js'
import { loadDriver } from './browser.js'
import { watchRequests } from './requests.js'
import { oncePerAction, pairHashes, parseConsoleCsp, type ConsoleCsp, type Violation, type ViolationEvent } from './violations.js'

export interface CrawlOptions {
  /** The running site: its URL (base included) and the URL paths of its pages. */
  url: string
  pages: string[]
  browser: string
  maxPages: number
  maxClicks: number
  /** Seconds: the crawl stops starting new steps after this (it never decides pass or fail). */
  budget: number
}

export interface JsError {
  message: string
  page: string
  path: string[]
}

export interface CrawlResult {
  violations: Violation[]
  errors: JsError[]
  /** `sha256` hash sources of every inline style and script (element or attribute) seen in a document. */
  seenHashes: Set<string>
  pagesOpened: number
  clicks: number
  /** Why the crawl stopped before it had done everything, if it did. */
  cut?: string
}

/** Toggles that show or hide, or switch a theme, without side effects elsewhere. Buttons in forms are never clicked. */
export const TOGGLES = [
  'details > summary',
  'button[aria-expanded]',
  '[role="button"][aria-expanded]',
  '.VPSwitchAppearance',
  'button[class*="toggleButton"]',
  '[data-theme-toggle]',
]

interface Step {
  path: string[]
  how: 'load' | 'click'
}

/**
 * Runs in every document before its own scripts: reports CSP violations and the inline code the document holds,
 * and counts the requests the page's scripts have started and not yet read to the end (fetch with its body, XHR).
 * The page knows of a request as soon as a click handler starts it, before the browser's network events reach the
 * crawl, so a step is not taken for done while what it started is still on its way.
 */
const INIT_SCRIPT = `(() => {
  const report = globalThis.__cspSealCrawl;
  if (typeof report !== 'function') return;
  let pending = 0;
  const track = (promise) => {
    pending++;
    const done = () => { pending--; };
    promise.then(done, done);
    return promise;
  };
  const fetch0 = globalThis.fetch;
  if (typeof fetch0 === 'function') globalThis.fetch = function fetch(...args) { return track(fetch0.apply(this, args)); };
  if (typeof Response === 'function') {
    for (const name of ['text', 'json', 'arrayBuffer', 'blob', 'formData', 'bytes']) {
      const read = Response.prototype[name];
      if (typeof read === 'function') Response.prototype[name] = function (...args) { return track(read.apply(this, args)); };
    }
  }
  if (typeof XMLHttpRequest === 'function') {
    const send0 = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function send(...args) {
      pending++;
      this.addEventListener('loadend', () => { pending--; }, { once: true });
      try { return send0.apply(this, args); } catch (error) { pending--; throw error; }
    };
  }
  Object.defineProperty(globalThis, '__cspSealCrawlPending', { get: () => pending });
  document.addEventListener('securitypolicyviolation', (e) => {
    report({ violation: { directive: e.effectiveDirective || e.violatedDirective, blocked: e.blockedURI, sample: e.sample || '', source: e.sourceFile || undefined, line: e.lineNumber || undefined, column: e.columnNumber || undefined, documentUrl: e.documentURI, policy: e.originalPolicy } });
  }, true);
  const sent = new Set();
  const send = (kind, text) => {
    if (text == null || sent.has(kind + '\\0' + text)) return;
    sent.add(kind + '\\0' + text);
    report({ inline: { kind, text } });
  };
  const look = (el) => {
    if (el.nodeType !== 1) return;
    const name = el.localName;
    if (name === 'style') send('style', el.textContent);
    if (name === 'script' && !el.hasAttribute('src')) send('script', el.textContent);
    if (el.hasAttribute('style')) send('style-attr', el.getAttribute('style'));
    for (const child of el.children) look(child);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') { if (r.target.hasAttribute('style')) send('style-attr', r.target.getAttribute('style')); }
      else if (r.type === 'characterData') { const p = r.target.parentNode; if (p) look(p); }
      else { for (const n of r.addedNodes) look(n); if (r.target.nodeType === 1 && (r.target.localName === 'style' || r.target.localName === 'script')) look(r.target); }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['style'], characterData: true });
})();`

/**
 * Crawls a running sealed site in headless Chromium: opens every page, clicks its same-origin links (a client router
 * navigates inside the document) and its toggles, and records each CSP violation with the hash Chromium reports,
 * each uncaught error, and the hash of every inline style and script the documents hold.
 */
export async function crawlSite(options: CrawlOptions): Promise<CrawlResult> {
  const { chromium } = await loadDriver()
  const deadline = performance.now() + options.budget * 1000
  const origin = new URL(options.url).origin
  const result: CrawlResult = { violations: [], errors: [], seenHashes: new Set(), pagesOpened: 0, clicks: 0 }
  let step: Step = { path: [], how: 'load' }
  let events: Array<{ event: ViolationEvent; step: Step }> = []
  let messages: ConsoleCsp[] = []

  // Same origin only: nothing leaves the machine, and no other site is crawled. Every request but the site's own goes
  // to a proxy that drops the connection, so it fails as a blocked request would. (Routing requests through the driver
  // instead passes each one through this process and turns the browser's cache off: a third of the crawl's time.)
  const sink = createServer((socket) => socket.destroy()).listen(0, '127.0.0.1')
  await once(sink, 'listening')
  const browser: Browser = await chromium
    .launch({
      executablePath: options.browser,
      headless: true,
      // `<-loopback>`: the browser's own rule that loopback hosts never use a proxy is dropped, so that other ports of
      // this machine are refused too; only the site's host and port go direct.
      args: [`--proxy-server=http://127.0.0.1:${(sink.address() as AddressInfo).port}`, `--proxy-bypass-list=<-loopback>;${new URL(options.url).host}`],
    })
    .catch((error: unknown) => {
      sink.close()
      throw error
    })
  try {
    const context: BrowserContext = await browser.newContext({ serviceWorkers: 'block' })
    // The page's calls arrive in the order it made them; a call's promise resolves in the page once this has run.
    await context.exposeFunction('__cspSealCrawl', (data: { violation?: ViolationEvent; inline?: { kind: string; text: string }; flush?: true }) => {
      if (data.violation) events.push({ event: data.violation, step })
      if (data.inline) result.seenHashes.add(cspHash(data.inline.text, 'sha256'))
    })
    await context.addInitScript(INIT_SCRIPT)
    const page: Page = await context.newPage()
    page.on('console', (message) => {
      const parsed = parseConsoleCsp(message.text())
      if (parsed) messages.push(parsed)
    })
    page.on('pageerror', (error) => result.errors.push({ message: error.message.split('\n')[0]!, page: pathOf(page.url(), origin), path: step.path }))
    const requests = watchRequests(page)

    const pagePending = () => page.evaluate(() => (globalThis as { __cspSealCrawlPending?: number }).__cspSealCrawlPending ?? 0).catch(() => 0)
    /**
     * Waits until what the step started is done: the page has loaded, no request the page started is still open (as
     * the page counts them, and as the network reports them), and the network has been quiet a moment since the step
     * began; then for a frame to render, and for every report the page made until then to have reached the crawl.
     */
    const settle = async () => {
      requests.restart()
      await page.waitForLoadState('load').catch(() => undefined)
      while (requests.inFlight > 0 || performance.now() - requests.lastChange < 300 || (await pagePending()) > 0) await new Promise((r) => setTimeout(r, 50))
      await page
        .evaluate(async () => {
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))
          // Violation events fired before this point have called the crawl; this call returns after they were handled.
          const report = (globalThis as { __cspSealCrawl?: (data: { flush: true }) => Promise<void> }).__cspSealCrawl
          if (typeof report === 'function') await report({ flush: true })
        })
        .catch(() => undefined)
    }
    /** Moves the events and console messages of the step just done into violations. */
    const collect = () => {
      const hashes = pairHashes(
        events.map((e) => e.event),
        messages,
      )
      const kept = oncePerAction(events.map((e) => e.event))
      events.forEach(({ event, step: at }, i) => {
        if (!kept[i]) return
        result.violations.push({
          directive: event.directive,
          blocked: event.blocked,
          sample: event.sample,
          ...(hashes[i] ? { hash: hashes[i] } : {}),
          // Where the step left the visitor: after a client navigation, the view's URL (the event names the URL
          // the document had when the router rendered, before it pushed the new one).
          page: pathOf(page.url(), origin),
          path: at.path,
          how: at.how,
          ...(event.source ? { source: `${pathOf(event.source, origin)}${event.line ? `:${event.line}` : ''}` } : {}),
        })
      })
      events = []
      messages = []
    }
    const outOfTime = () => performance.now() > deadline
    const clickedTargets = new Set<string>()
    /** The toggles clicked so far, by `toggleIdentity`: a header's or a sidebar's toggle on every view is clicked once. */
    const clickedToggles = new Set<string>()

    const open = async (url: string, path: string[]) => {
      step = { path, how: path.length > 1 ? 'click' : 'load' }
      await page.goto(url, { waitUntil: 'load' }).catch(() => undefined)
      await settle()
      collect()
    }
    const clickToggles = async (path: string[]) => {
      for (const selector of TOGGLES) {
        const toggles = page.locator(`${selector}:not(form *)`)
        const count = await toggles.count().catch(() => 0)
        for (let i = 0; i < count; i++) {
          if (result.clicks >= options.maxClicks) return (result.cut ??= `--max-clicks ${options.maxClicks} reached`)
          if (outOfTime()) return (result.cut ??= `--budget ${options.budget}s reached`)
          const toggle = toggles.nth(i)
          if (!(await toggle.isVisible().catch(() => false))) continue
          const markup = await toggle.evaluate(toggleIdentity).catch(() => null)
          if (markup === null) continue
          const identity = createHash('sha256').update(markup).digest('base64')
          if (clickedToggles.has(identity)) continue
          clickedToggles.add(identity)
          const label = `click ${selector}${count > 1 ? ` #${i + 1}` : ''}`
          step = { path: [...path, label], how: 'click' }
          result.clicks++
          await toggle.click({ timeout: 10_000 }).catch(() => undefined)
          await settle()
          collect()
        }
      }
      return undefined
    }

    for (const [index, pagePath] of options.pages.entries()) {
      if (result.pagesOpened >= options.maxPages) {
        result.cut ??= `--max-pages ${options.maxPages} reached (${options.pages.length - index} pages not opened)`
        break
      }
      if (outOfTime()) {
        result.cut ??= `--budget ${options.budget}s reached (${options.pages.length - index} pages not opened)`
        break
      }
      const url = new URL(pagePath, origin).href
      result.pagesOpened++
      await open(url, [pagePath])
      await clickToggles([pagePath])
      const links = await sameOriginLinks(page, origin)
      for (const link of links) {
        if (clickedTargets.has(link.target)) continue
        if (result.clicks >= options.maxClicks) {
          result.cut ??= `--max-clicks ${options.maxClicks} reached`
          break
        }
        if (outOfTime()) {
          result.cut ??= `--budget ${options.budget}s reached`
          break
        }
        clickedTargets.add(link.target)
        // Each link is clicked from its page as opened, so what a click shows depends on that click alone.
        if (page.url() !== url) await open(url, [pagePath])
        const anchor = page
          .locator(`a[href=${JSON.stringify(link.href)}]`)
          .filter({ visible: true })
          .first()
        if ((await anchor.count().catch(() => 0)) === 0) continue
        const path = [pagePath, `click a[href=${JSON.stringify(link.href)}]`]
        step = { path, how: 'click' }
        result.clicks++
        await anchor.click({ timeout: 10_000 }).catch(() => undefined)
        await settle()
        collect()
        await clickToggles([...path])
      }
    }
    collect()
    await context.close()
  } finally {
    await browser.close()
    sink.close()
  }
  return result
}

/**
 * What makes two toggles the same control, wherever they are shown: the toggle's markup as it is now (its state
 * included: a collapsed and an expanded caret are two) and that of what it shows, its `<details>` for a `<summary>`,
 * the element its `aria-controls` names for a button. Runs in the page.
 */
function toggleIdentity(toggle: Element): string {
  const controlled = toggle.getAttribute('aria-controls')
  const shown = toggle.localName === 'summary' ? toggle.parentElement : controlled ? document.getElementById(controlled) : null
  return `${toggle.outerHTML}\0${shown?.outerHTML ?? ''}`
}

/** The same-origin links a page offers (no downloads, no new windows, not the page itself), each target once. */
async function sameOriginLinks(page: Page, origin: string): Promise<Array<{ href: string; target: string }>> {
  const links = await page
    .$$eval('a[href]', (anchors) =>
      anchors
        .filter((a) => !a.hasAttribute('download') && !/^_(blank|parent|top)$/.test(a.getAttribute('target') ?? ''))
        .map((a) => ({ href: a.getAttribute('href')!, url: (a as HTMLAnchorElement).href })),
    )
    .catch(() => [] as Array<{ href: string; url: string }>)
  const here = new URL(page.url())
  const seen = new Set<string>()
  const out: Array<{ href: string; target: string }> = []
  for (const link of links) {
    let target: URL
    try {
      target = new URL(link.url)
    } catch {
      continue
    }
    if (target.origin !== origin) continue
    target.hash = ''
    if (target.pathname === here.pathname && target.search === here.search) continue
    const key = target.pathname + target.search
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ href: link.href, target: key })
  }
  return out
}

function pathOf(url: string, origin: string): string {
  try {
    const parsed = new URL(url)
    return parsed.origin === origin ? parsed.pathname + parsed.search : url
  } catch {
    return url
  }
}
