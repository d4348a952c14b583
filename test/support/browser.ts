/**
 * Real headless Chromium for browser tests (Debian's /usr/bin/chromium driven by playwright-core; no browser
 * is ever downloaded).
 *
 * One browser per test file (`launchBrowser()` in `beforeAll`, `browser.close()` in `afterAll`); a `visit()` borrows
 * one of its tabs.
 *
 * What a visit records:
 * - `violations`: every `securitypolicyviolation` event of the page and of its child frames (an init script
 *   installs the listener before any page script runs). Events are kept in the page (`window.__cspViolations`)
 *   *and* streamed to Node through a binding, so late events (read again by `collect()`) and events of documents
 *   that have gone away are both counted, without duplicates.
 * - `cspConsoleErrors`: console messages about CSP. Chromium 156 words blocks as "Executing inline script violates
 *   the following Content Security Policy directive …" / "Loading the stylesheet '…' violates …" (older versions:
 *   "Refused to …"); both are matched, as are notes like "The Content Security Policy directive 'frame-ancestors' is
 *   ignored when delivered via a <meta> element" and "… delivered via a <meta> element outside the document's
 *   <head>, which is disallowed". Some blocks only show there (with JavaScript disabled there is no listener).
 * - `integrityErrors`: Subresource Integrity failures ("Failed to find a valid digest in the 'integrity'
 *   attribute …"); SRI blocks do not fire `securitypolicyviolation`.
 * - `consoleMessages`, `pageErrors` (uncaught exceptions), `failedRequests` (network failures and CSP-blocked loads,
 *   errorText 'csp'; SRI-blocked loads are not listed there),
 *   `badResponses` (HTTP status >= 400).
 * - `ran`: the page's `window.__ran` array (fixture scripts push a unique id into it when they run).
 */
import { existsSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type CDPSession,
  type ConsoleMessage,
  type Frame,
  type Page,
  type Request,
  type Response,
} from 'playwright-core'
import { watchRequests, type RequestWatch } from '../../src/crawl/requests.js'

export type { Browser, Page, Frame } from 'playwright-core'

export const CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * The features playwright-core 1.65.1 (pinned for this list) turns off in every Chromium it launches. Chromium reads
 * only the last `--disable-features` it is given, so a list of our own has to repeat them; test/browser-launch.test.ts
 * fails when the list playwright-core passes is not this one.
 */
export const PLAYWRIGHT_DISABLED_FEATURES: readonly string[] = [
  'AimEnabled',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsFirstBalancedModeAutoEnable',
  'HttpsUpgrades',
  'LensOverlay',
  'MediaRouter',
  'NetworkTimeServiceQuerying',
  'OptimizationHints',
  'PaintHolding',
  'PreconnectToSearch',
  'TcpPortRandomizationWin',
  'ThirdPartyStoragePartitioning',
  'msEdgeUpdateLaunchServicesPreferredVersion',
  'msForceBrowserSignIn',
]

/**
 * Headless Chromium builds the address bar's suggestion popups (two WebUI pages in a renderer of their own) for
 * every window it opens, and a tab of a new browser context is a new window: about 1.7 CPU-seconds each, for a
 * popup no test ever shows.
 */
const UNUSED_WINDOW_FEATURES = ['WebUIOmniboxPopup', 'WebUIOmniboxAimPopup']

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  `--disable-features=${[...PLAYWRIGHT_DISABLED_FEATURES, ...UNUSED_WINDOW_FEATURES].join(',')}`,
]

/** Launch Debian's Chromium headless. Call once per test file and close it in `afterAll`. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found. Install Debian's Chromium (npm run setup installs it); ` + 'the tests never download a browser.')
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
    // Chromium's own flags only; do not let playwright-core look for a bundled browser.
    chromiumSandbox: false,
  })
}

/**
 * One Chromium for a test file, launched before its tests and closed after them, and the temp folders its tests
 * made, removed after them: `const chromium = useChromium()`, then `chromium.browser()` in hooks and tests and
 * `chromium.track(dir)` for each folder.
 */
export function useChromium(): { browser(): Browser; track<T extends string>(dir: T): T } {
  let browser: Browser | undefined
  const dirs: string[] = []
  beforeAll(async () => {
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })
  return {
    browser() {
      if (!browser) throw new Error('Chromium is not running (call browser() in hooks and tests, not while declaring them)')
      return browser
    },
    track(dir) {
      dirs.push(dir)
      return dir
    },
  }
}

export interface CspViolation {
  blockedURI: string
  violatedDirective: string
  effectiveDirective: string
  /** First 40 characters of the blocked inline script/style/attribute (only when the policy has 'report-sample'). */
  sample: string
  sourceFile: string
  lineNumber: number
  columnNumber: number
  /** 'enforce' or 'report'. */
  disposition: string
  originalPolicy: string
  /** As reported by Chromium: for an iframe srcdoc it is just `about` (use `frameUrl`). */
  documentURI: string
  /** `location.href` of the document where the event fired (`about:srcdoc` for an iframe srcdoc). */
  frameUrl: string
  /** True when the event fired in a child frame, not the top document. */
  inFrame: boolean
}

export interface ConsoleEntry {
  /** 'log', 'error', 'warning', … */
  type: string
  text: string
  url: string
  lineNumber: number
}

export interface FailedRequest {
  url: string
  failure: string
}

export interface BadResponse {
  url: string
  status: number
}

export interface VisitOptions {
  /** Extra milliseconds to wait after load and a quiet network, before collecting. Default 50. */
  waitFor?: number
  /** Options for the browser context of the visit's tab (e.g. `{ javaScriptEnabled: false }`). */
  context?: BrowserContextOptions
}

export interface Visit {
  page: Page
  /** The main navigation response (null for about:blank and the like). */
  response: Response | null
  violations: CspViolation[]
  /** Console messages about CSP (blocks, and directives ignored in a meta policy). */
  cspConsoleErrors: string[]
  /** Console messages that report a Subresource Integrity block. */
  integrityErrors: string[]
  consoleMessages: ConsoleEntry[]
  pageErrors: string[]
  failedRequests: FailedRequest[]
  badResponses: BadResponse[]
  /** The page's `window.__ran` (ids pushed by the scripts that ran), as of the last `collect()`. */
  ran: string[]
  /** Re-read `ran` and the in-page violation lists (after clicking, waiting, …). Updates this object in place. */
  collect(): Promise<Visit>
  close(): Promise<void>
}

interface RawViolation extends CspViolation {
  doc: string
  seq: number
}

const BINDING = '__cspSealReportViolation'

/**
 * Runs in every document (top and frames) before any of its scripts. Must be self-contained: it is
 * serialised into the page. Reports go to `window.__cspViolations` (non-writable, so a page cannot swap it)
 * and, when available, to the Node side through the binding.
 */
export function installViolationRecorder(binding: string): void {
  const w = window as unknown as Record<string, unknown>
  if (Object.prototype.hasOwnProperty.call(w, '__cspViolations')) return
  const list: unknown[] = []
  Object.defineProperty(w, '__cspViolations', { value: list, writable: false, configurable: false, enumerable: false })
  const doc = Math.random().toString(36).slice(2) + Date.now().toString(36)
  let seq = 0
  let inFrame = true
  try {
    inFrame = window.top !== window
  } catch {
    inFrame = true
  }
  const onViolation = (e: SecurityPolicyViolationEvent) => {
    const v = {
      doc,
      seq: seq++,
      blockedURI: String(e.blockedURI ?? ''),
      violatedDirective: String(e.violatedDirective ?? ''),
      effectiveDirective: String(e.effectiveDirective ?? ''),
      sample: String(e.sample ?? ''),
      sourceFile: String(e.sourceFile ?? ''),
      lineNumber: Number(e.lineNumber ?? 0),
      columnNumber: Number(e.columnNumber ?? 0),
      disposition: String(e.disposition ?? ''),
      originalPolicy: String(e.originalPolicy ?? ''),
      documentURI: String(e.documentURI ?? ''),
      frameUrl: String(location.href),
      inFrame,
    }
    list.push(v)
    const report = w[binding]
    if (typeof report === 'function') {
      try {
        void (report as (v: unknown) => Promise<unknown>)(v)?.catch?.(() => undefined)
      } catch {
        /* the page may have gone away */
      }
    }
  }
  // Capture phase on the document: the event is dispatched at the element (or the document) and bubbles.
  document.addEventListener('securitypolicyviolation', onViolation, true)
}

function isCspConsoleText(text: string): boolean {
  return /^Refused to /i.test(text) || /Content[- ]Security[- ]Policy/i.test(text)
}

function isIntegrityConsoleText(text: string): boolean {
  return /\bintegrity\b/i.test(text) && /(digest|blocked|integrity metadata)/i.test(text)
}

async function readViolations(frame: Frame): Promise<RawViolation[]> {
  try {
    return await frame.evaluate(() => {
      const list = (window as unknown as { __cspViolations?: unknown }).__cspViolations
      return Array.isArray(list) ? (JSON.parse(JSON.stringify(list)) as RawViolation[]) : []
    })
  } catch {
    return [] // detached or navigating frame
  }
}

/** Read the page's `window.__ran` (as strings). */
export async function readRan(page: Page | Frame): Promise<string[]> {
  return page.evaluate(() => {
    const ran = (window as unknown as { __ran?: unknown }).__ran
    return Array.isArray(ran) ? ran.map((x) => String(x)) : []
  })
}

/** Where a page's violations go: the recorder its visit registered for it. */
type Recorders = Map<Page, (v: RawViolation) => void>

/** Installs the violation recorder in every document of `context`, streaming each report to its page's visit. */
async function watchViolations(context: BrowserContext, recorders: Recorders): Promise<void> {
  await context.exposeBinding(BINDING, (source, v: RawViolation) => {
    if (v && typeof v === 'object' && typeof v.doc === 'string') recorders.get(source.page)?.(v)
  })
  await context.addInitScript(installViolationRecorder, BINDING)
}

/** A tab that visits borrow in turn: made with the context options of the visits it serves. */
interface LentTab {
  context: BrowserContext
  page: Page
  /** The session that keeps the HTTP cache off ({@link withoutHttpCache}), also used to reset the tab. */
  cdp: CDPSession
  recorders: Recorders
  /** The origins of the documents the tab has shown since it was last reset. */
  origins: Set<string>
}

/** Turns `page`'s HTTP cache off through a CDP session of its own, which stays attached until the page closes. */
export async function withoutHttpCache(context: BrowserContext, page: Page): Promise<CDPSession> {
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true })
  return cdp
}

/** Each browser's idle tabs, by the context options they were made with. */
const idleTabs = new WeakMap<Browser, Map<string, LentTab[]>>()

async function borrowTab(browser: Browser, options: BrowserContextOptions = {}): Promise<{ tab: LentTab; idle: LentTab[] }> {
  const byOptions = idleTabs.get(browser) ?? new Map<string, LentTab[]>()
  idleTabs.set(browser, byOptions)
  const key = JSON.stringify(options)
  const idle = byOptions.get(key) ?? []
  byOptions.set(key, idle)
  const reused = idle.pop()
  if (reused) return { tab: reused, idle }
  const context = await browser.newContext(options)
  try {
    const recorders: Recorders = new Map()
    await watchViolations(context, recorders)
    const page = await context.newPage()
    const cdp = await withoutHttpCache(context, page)
    const origins = new Set<string>()
    page.on('framenavigated', (frame) => {
      const origin = originOf(frame.url())
      if (origin) origins.add(origin)
    })
    return { tab: { context, page, cdp, recorders, origins }, idle }
  } catch (err) {
    await context.close().catch(() => undefined)
    throw err
  }
}

/**
 * Ends a visit: the tab leaves its page for about:blank; the storage of every origin it showed, every cookie,
 * the window's name and the tab's history are cleared; and the tab waits for the next visit. A tab that cannot be
 * reset is closed instead.
 */
async function giveBack(tab: LentTab, idle: LentTab[]): Promise<void> {
  try {
    await tab.page.goto('about:blank')
    for (const origin of tab.origins) await tab.cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'all' })
    tab.origins.clear()
    await tab.context.clearCookies()
    // The window's name stays with the tab otherwise; the next visit's page then has one entry before it, as the
    // blank page of a new tab is.
    await tab.page.evaluate(() => (window.name = ''))
    await tab.cdp.send('Page.resetNavigationHistory')
    idle.push(tab)
  } catch {
    await tab.context.close().catch(() => undefined)
  }
}

/** A URL's origin, or null for an opaque one (about:blank, data:) or no URL. */
export function originOf(url: string): string | null {
  try {
    const { origin } = new URL(url)
    return origin === 'null' ? null : origin
  } catch {
    return null
  }
}

/**
 * How long the page's network must have been quiet before a visit reads what the page did. Playwright's
 * 'networkidle' waits for 500 ms of quiet: idle time on every visit, half of test/browser-oracle.test.ts's 24 s;
 * 100 ms is enough because the page is then asked for a reply, which it gives once the script it is running ends: a
 * request that script starts (a framework loading the chunks of its route) is seen by then, and the wait starts again.
 */
const QUIET_MS = 100

/**
 * Waits until none of the page's requests is in flight, none started or ended for {@link QUIET_MS}, and the page has
 * replied since without starting one (an evaluation, which also works with JavaScript disabled). At most 5 s: a page
 * that keeps a request open (a stream, a long poll) is read then, as it is.
 */
async function networkQuiet(page: Page, requests: RequestWatch): Promise<void> {
  const giveUp = performance.now() + 5_000
  const busy = () => (requests.inFlight > 0 || performance.now() - requests.lastChange < QUIET_MS) && performance.now() < giveUp
  for (;;) {
    while (busy()) await new Promise((resolve) => setTimeout(resolve, 20))
    const before = requests.lastChange
    await page.evaluate(() => 0).catch(() => undefined)
    if (requests.lastChange === before || performance.now() >= giveUp) return
  }
}

/**
 * Open `url`, wait for `load`, a quiet network (capped) and `opts.waitFor` ms, then collect everything the page
 * reported. Always `close()` the visit (the browser stays open). The visit borrows an idle tab of the browser made
 * with the same context options, or a new one: a fresh context per visit started a renderer process per page. It
 * starts as a first visit in a fresh context does: no cookie, no storage of an origin the tab showed before, no
 * window name or history, and every response from the server (the tab's HTTP cache is off).
 */
export async function visit(browser: Browser, url: string, opts: VisitOptions = {}): Promise<Visit> {
  const { tab, idle } = await borrowTab(browser, opts.context)
  const { page, recorders } = tab
  const seen = new Map<string, RawViolation>()
  const record = (v: RawViolation) => {
    const key = `${v.doc}#${v.seq}`
    if (!seen.has(key)) seen.set(key, v)
  }
  const consoleMessages: ConsoleEntry[] = []
  const pageErrors: string[] = []
  const failedRequests: FailedRequest[] = []
  const badResponses: BadResponse[] = []
  const onConsole = (msg: ConsoleMessage) => {
    const loc = msg.location()
    consoleMessages.push({ type: msg.type(), text: msg.text(), url: loc.url, lineNumber: loc.lineNumber })
  }
  const onPageError = (err: Error) => pageErrors.push(err.message)
  const onRequestFailed = (req: Request) => failedRequests.push({ url: req.url(), failure: req.failure()?.errorText ?? 'failed' })
  const onResponse = (res: Response) => {
    if (res.status() >= 400) badResponses.push({ url: res.url(), status: res.status() })
  }
  const requests = watchRequests(page)
  recorders.set(page, record)
  page.on('console', onConsole)
  page.on('pageerror', onPageError)
  page.on('requestfailed', onRequestFailed)
  page.on('response', onResponse)
  let ended = false
  const finish = async () => {
    if (ended) return
    ended = true
    page.off('console', onConsole)
    page.off('pageerror', onPageError)
    page.off('requestfailed', onRequestFailed)
    page.off('response', onResponse)
    requests.stop()
    recorders.delete(page)
    await giveBack(tab, idle)
  }

  let response: Response | null
  try {
    // No deadline: a busy machine may take long to load a page; vitest's hang guard stops one that never loads.
    response = await page.goto(url, { waitUntil: 'load', timeout: 0 })
    await networkQuiet(page, requests)
    await page.waitForTimeout(opts.waitFor ?? 50)
  } catch (err) {
    await finish().catch(() => undefined)
    throw err
  }

  const result: Visit = {
    page,
    response,
    violations: [],
    cspConsoleErrors: [],
    integrityErrors: [],
    consoleMessages,
    pageErrors,
    failedRequests,
    badResponses,
    ran: [],
    async collect() {
      for (const frame of page.frames()) {
        for (const v of await readViolations(frame)) record(v)
      }
      // Map order = first arrival order (binding or in-page list), which is per-document event order.
      result.violations = [...seen.values()].map(({ doc: _doc, seq: _seq, ...v }) => v)
      result.cspConsoleErrors = consoleMessages.filter((m) => isCspConsoleText(m.text)).map((m) => m.text)
      result.integrityErrors = consoleMessages.filter((m) => isIntegrityConsoleText(m.text)).map((m) => m.text)
      try {
        result.ran = await readRan(page)
      } catch {
        /* page closed or navigating: keep the last value */
      }
      return result
    },
    async close() {
      await finish().catch(() => undefined)
    },
  }
  await result.collect()
  return result
}

/**
 * `getComputedStyle(element).getPropertyValue(property)` for the first element matching `selector`
 * (`property` in CSS syntax, e.g. 'background-color'). Throws if nothing matches.
 */
export async function computedStyle(page: Page | Frame, selector: string, property: string): Promise<string> {
  const value = await page.evaluate(
    ([sel, prop]) => {
      const el = document.querySelector(sel)
      return el ? getComputedStyle(el).getPropertyValue(prop) : null
    },
    [selector, property] as const,
  )
  if (value === null) throw new Error(`computedStyle: no element matches ${JSON.stringify(selector)} on ${page.url()}`)
  return value
}

/** A one-line summary of what a visit saw, for assertion messages. */
export function describeVisit(v: Visit): string {
  return JSON.stringify(
    {
      url: v.page.url(),
      ran: v.ran,
      violations: v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI} ${x.sourceFile}:${x.lineNumber}`),
      cspConsoleErrors: v.cspConsoleErrors,
      integrityErrors: v.integrityErrors,
      pageErrors: v.pageErrors,
      failedRequests: v.failedRequests,
      badResponses: v.badResponses,
    },
    null,
    2,
  )
}

/** One page of a fixture's EXPECTED.json (see fixtures/example-site/EXPECTED.json for the meaning). */
export interface ExpectedPage {
  /** HTML file relative to the site root, posix separators. */
  path: string
  /** Exactly the ids in `window.__ran` after load (order not significant). */
  ran: string[]
  /** Ids present in the page that must never be in `window.__ran`. */
  inert: string[]
  /** [selector, CSS property, expected computed value]. */
  styles: [selector: string, property: string, value: string][]
  /** What the page exercises (tags listed in the file's $comment). */
  exercises: string[]
}

export interface ExpectedSite {
  pages: ExpectedPage[]
}

/** Read `<siteDir>/EXPECTED.json`. */
export function readExpected(siteDir: string): ExpectedSite {
  const data = JSON.parse(readFileSync(path.join(siteDir, 'EXPECTED.json'), 'utf8')) as ExpectedSite
  if (!Array.isArray(data.pages)) throw new Error(`${siteDir}/EXPECTED.json: "pages" is not an array`)
  return data
}
