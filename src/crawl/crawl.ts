import os from 'node:os'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { cspHash } from '../csp/hash.js'
import { loadDriver } from './browser.js'
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
 * Tabs the crawl drives at once: up to four, and no more than the machine has cores. A step spends much of its time
 * waiting for the page, so steps in several tabs overlap (a 28-page Docusaurus site: 90 s in one tab, 58 s in two,
 * 44 s in four, on two cores); but each tab starts a renderer process of its own, which costs a small site more
 * than it saves where the cores are few (4 pages: 6 core-seconds in one tab, 10 in four). What the crawl reports
 * does not depend on the count.
 */
const TABS = Math.min(4, os.availableParallelism())

/** What one step (a page opened, or one click) saw. */
interface StepRun extends Step {
  violations: Violation[]
  errors: JsError[]
  seenHashes: Set<string>
}

/** The steps of one job in its own tab, in order, and why the job stopped early, if it did. */
interface JobRun {
  steps: StepRun[]
  cut?: string
}

/**
 * Crawls a running sealed site in headless Chromium: opens every page, clicks its same-origin links (a client router
 * navigates inside the document) and its toggles, and records each CSP violation with the hash Chromium reports,
 * each uncaught error, and the hash of every inline style and script the documents hold.
 *
 * The work is split into jobs, a few at once, each in a tab of its own context whose cookies and storage are cleared
 * first (so what a job sees depends on that job alone, not on which jobs ran before it): first every page, opened,
 * its toggles clicked and its links listed; then every link target once, clicked from the first page (in page order)
 * that offers it, as opened, with the toggles of the view it leads to. The result is put together in that order, as
 * if the jobs had run one after another: page 1, the links it was first to offer, page 2, and so on; `maxClicks`
 * cuts that sequence.
 */
export async function crawlSite(options: CrawlOptions): Promise<CrawlResult> {
  const { chromium } = await loadDriver()
  const deadline = performance.now() + options.budget * 1000
  const outOfTime = () => performance.now() > deadline
  const budgetCut = `--budget ${options.budget}s reached`
  const clicksCut = `--max-clicks ${options.maxClicks} reached`
  const origin = new URL(options.url).origin
  const opened = options.pages.slice(0, options.maxPages)

  const browser: Browser = await chromium.launch({ executablePath: options.browser, headless: true })
  try {
    // At most TABS tabs, each opened once (a fresh context costs a new renderer process) and reset for every job.
    const idle: Tab[] = []
    const inTab = async (job: (tab: Tab) => Promise<string | undefined>): Promise<JobRun> => {
      const tab = idle.pop() ?? (await Tab.open(browser, origin, options.maxClicks, outOfTime))
      await tab.reset()
      const cut = await job(tab)
      idle.push(tab)
      return { steps: tab.done(), ...(cut ? { cut } : {}) }
    }

    const links: Array<Array<{ href: string; target: string }>> = []
    const pageRuns = await inOrder(opened, TABS, (pagePath, index) => {
      if (outOfTime()) return undefined
      return inTab(async (tab) => {
        await tab.open(new URL(pagePath, origin).href, pagePath)
        const cut = await tab.clickToggles([pagePath], budgetCut, clicksCut)
        links[index] = await sameOriginLinks(tab.page, origin)
        return cut
      })
    })

    // Each link target once, from the first page that offers it.
    const clicked = new Set<string>()
    const linkJobs = opened.flatMap((pagePath, index) =>
      (links[index] ?? []).filter((link) => !clicked.has(link.target) && clicked.add(link.target)).map((link) => ({ pagePath, index, link })),
    )
    // Clicks that certainly come before a job in the crawl's order: a job past `maxClicks` is not started.
    const clicksOf = (run: JobRun | undefined) => run?.steps.filter((s) => s.how === 'click').length ?? 0
    const linkRuns: Array<JobRun | undefined> = []
    await inOrder(linkJobs, TABS, async ({ pagePath, index, link }, j) => {
      const before = pageRuns.slice(0, index + 1).reduce((n, run) => n + clicksOf(run), 0) + linkRuns.slice(0, j).reduce((n, run) => n + clicksOf(run), 0)
      if (outOfTime() || before >= options.maxClicks) return
      linkRuns[j] = await inTab(async (tab) => {
        // Each link is clicked from its page as opened, so what a click shows depends on that click alone.
        await tab.open(new URL(pagePath, origin).href, pagePath)
        const anchor = tab.page
          .locator(`a[href=${JSON.stringify(link.href)}]`)
          .filter({ visible: true })
          .first()
        if ((await anchor.count().catch(() => 0)) === 0) {
          tab.steps = []
          return undefined
        }
        const path = [pagePath, `click a[href=${JSON.stringify(link.href)}]`]
        await tab.step(path, 'click', () => anchor.click({ timeout: 10_000 }))
        return tab.clickToggles(path, budgetCut, clicksCut)
      })
    })

    // The jobs' steps in the crawl's order, up to `maxClicks` clicks.
    const result: CrawlResult = { violations: [], errors: [], seenHashes: new Set(), pagesOpened: 0, clicks: 0 }
    const take = (steps: StepRun[]) => {
      for (const step of steps) {
        if (step.how === 'click') {
          if (result.clicks >= options.maxClicks) return (result.cut ??= clicksCut)
          result.clicks++
        }
        result.violations.push(...step.violations)
        result.errors.push(...step.errors)
        for (const hash of step.seenHashes) result.seenHashes.add(hash)
      }
      return undefined
    }
    for (const [index, pageRun] of pageRuns.entries()) {
      if (!pageRun) {
        result.cut ??= `${budgetCut} (${options.pages.length - index} pages not opened)`
        break
      }
      result.pagesOpened++
      take(pageRun.steps)
      if (pageRun.cut) result.cut ??= pageRun.cut
      linkJobs.forEach((job, j) => {
        if (job.index !== index) return
        const linkRun = linkRuns[j]
        if (!linkRun) return void (result.cut ??= result.clicks >= options.maxClicks ? clicksCut : budgetCut)
        // A link job's first step reopens its page: it counts only if the job's click does.
        if (linkRun.steps.length && result.clicks >= options.maxClicks) return void (result.cut ??= clicksCut)
        take(linkRun.steps)
        if (linkRun.cut) result.cut ??= linkRun.cut
      })
    }
    if (opened.length < options.pages.length)
      result.cut ??= `--max-pages ${options.maxPages} reached (${options.pages.length - opened.length} pages not opened)`
    return result
  } finally {
    await browser.close()
  }
}

/** Runs `task` on every item, at most `width` at once, starting them in order; the results in the items' order. */
async function inOrder<T, R>(items: readonly T[], width: number, task: (item: T, index: number) => Promise<R> | R): Promise<R[]> {
  const results: R[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker))
  return results
}

/**
 * A browser context of its own and its page, where one job at a time takes its steps one at a time; each step keeps the violations,
 * errors and inline hashes that arrived while it was the current one.
 */
class Tab {
  steps: StepRun[] = []
  private current: StepRun | undefined
  private events: Array<{ event: ViolationEvent; step: StepRun }> = []
  private messages: ConsoleCsp[] = []
  private readonly inFlight = new Set<unknown>()
  private lastActivity = performance.now()
  private clicks = 0

  private constructor(
    private readonly context: BrowserContext,
    readonly page: Page,
    private readonly origin: string,
    private readonly maxClicks: number,
    private readonly outOfTime: () => boolean,
  ) {
    page.on('console', (message) => {
      const parsed = parseConsoleCsp(message.text())
      if (parsed) this.messages.push(parsed)
    })
    page.on('pageerror', (error) =>
      this.current?.errors.push({ message: error.message.split('\n')[0]!, page: pathOf(page.url(), origin), path: this.current.path }),
    )
    page.on('request', (request) => {
      this.inFlight.add(request)
      this.lastActivity = performance.now()
    })
    const done = (request: unknown) => {
      this.inFlight.delete(request)
      this.lastActivity = performance.now()
    }
    page.on('requestfinished', done)
    page.on('requestfailed', done)
  }

  static async open(browser: Browser, origin: string, maxClicks: number, outOfTime: () => boolean): Promise<Tab> {
    const context = await browser.newContext({ serviceWorkers: 'block' })
    const tab: { it?: Tab } = {}
    // The page's calls arrive in the order it made them; a call's promise resolves in the page once this has run.
    await context.exposeFunction('__cspSealCrawl', (data: { violation?: ViolationEvent; inline?: { kind: string; text: string }; flush?: true }) => {
      const step = tab.it?.current
      if (!step) return
      if (data.violation) tab.it!.events.push({ event: data.violation, step })
      if (data.inline) step.seenHashes.add(cspHash(data.inline.text, 'sha256'))
    })
    await context.addInitScript(INIT_SCRIPT)
    // Same origin only: nothing leaves the machine, and no other site is crawled.
    await context.route('**/*', (route) =>
      new URL(route.request().url()).origin === origin || /^(data|blob):/.test(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
    )
    tab.it = new Tab(context, await context.newPage(), origin, maxClicks, outOfTime)
    return tab.it
  }

  /** Starts a job: the last job's page closed, its cookies and the origin's storage cleared, no step taken. */
  async reset(): Promise<void> {
    await this.context.clearCookies()
    const cdp = await this.context.newCDPSession(this.page)
    await cdp.send('Storage.clearDataForOrigin', { origin: this.origin, storageTypes: 'all' })
    await cdp.detach()
    this.steps = []
    this.current = undefined
    this.events = []
    this.messages = []
    this.inFlight.clear()
    this.clicks = 0
  }

  /** Opens a page, a step of its own. */
  open(url: string, pagePath: string): Promise<void> {
    return this.step([pagePath], 'load', () => this.page.goto(url, { waitUntil: 'load' }))
  }

  /** Takes one step: `action`, then waits until what it started is done. */
  async step(path: string[], how: Step['how'], action: () => Promise<unknown>): Promise<void> {
    this.collect()
    if (how === 'click') this.clicks++
    this.current = { path, how, violations: [], errors: [], seenHashes: new Set() }
    this.steps.push(this.current)
    await action().catch(() => undefined)
    await this.settle()
    this.collect()
  }

  /** Clicks the page's toggles, each a step; why it stopped early, if it did. */
  async clickToggles(path: string[], budgetCut: string, clicksCut: string): Promise<string | undefined> {
    for (const selector of TOGGLES) {
      const toggles = this.page.locator(`${selector}:not(form *)`)
      const count = await toggles.count().catch(() => 0)
      for (let i = 0; i < count; i++) {
        if (this.clicks >= this.maxClicks) return clicksCut
        if (this.outOfTime()) return budgetCut
        const toggle = toggles.nth(i)
        if (!(await toggle.isVisible().catch(() => false))) continue
        const label = `click ${selector}${count > 1 ? ` #${i + 1}` : ''}`
        await this.step([...path, label], 'click', () => toggle.click({ timeout: 10_000 }))
      }
    }
    return undefined
  }

  /** The steps taken, with every violation that had arrived counted in its step. */
  done(): StepRun[] {
    this.collect()
    return this.steps
  }

  /**
   * Waits until what the step started is done: the page has loaded, no request the page started is still open (as
   * the page counts them, and as the network reports them), and the network has been quiet a moment since the step
   * began; then for a frame to render, and for every report the page made until then to have reached the crawl.
   */
  private async settle(): Promise<void> {
    const page = this.page
    const pagePending = () => page.evaluate(() => (globalThis as { __cspSealCrawlPending?: number }).__cspSealCrawlPending ?? 0).catch(() => 0)
    this.lastActivity = Math.max(this.lastActivity, performance.now())
    await page.waitForLoadState('load').catch(() => undefined)
    while (this.inFlight.size > 0 || performance.now() - this.lastActivity < 300 || (await pagePending()) > 0) await new Promise((r) => setTimeout(r, 50))
    await page
      .evaluate(async () => {
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))
        // Violation events fired before this point have called the crawl; this call returns after they were handled.
        const report = (globalThis as { __cspSealCrawl?: (data: { flush: true }) => Promise<void> }).__cspSealCrawl
        if (typeof report === 'function') await report({ flush: true })
      })
      .catch(() => undefined)
  }

  /** Moves the violation events and console messages that arrived since the last call into the steps they belong to. */
  private collect(): void {
    const events = this.events.map((e) => e.event)
    const hashes = pairHashes(events, this.messages)
    const kept = oncePerAction(events)
    this.events.forEach(({ event, step }, i) => {
      if (!kept[i]) return
      step.violations.push({
        directive: event.directive,
        blocked: event.blocked,
        sample: event.sample,
        ...(hashes[i] ? { hash: hashes[i] } : {}),
        // Where the step left the visitor: after a client navigation, the view's URL (the event names the URL
        // the document had when the router rendered, before it pushed the new one).
        page: pathOf(this.page.url(), this.origin),
        path: step.path,
        how: step.how,
        ...(event.source ? { source: `${pathOf(event.source, this.origin)}${event.line ? `:${event.line}` : ''}` } : {}),
      })
    })
    this.events = []
    this.messages = []
  }
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
