/**
 * Visit a page in any engine and see what it did, the same way in all three:
 *
 *   const proxy = await startReportingProxy(server.origin)   // once per site
 *   const v = await visit(engine, proxy, '/index.html')
 *   v.ran            // window.__ran: ids the page's scripts pushed
 *   v.reports        // what the page's enforced policies blocked (report-uri, every engine)
 *   await v.style('#title', 'color')
 *   await v.close()
 *
 * `visit()` returns once the page has loaded and every violation report it sent so far has arrived (the proxy's
 * barrier). Scripts that finish later (after load) are awaited by what the test expects of them: `waitForRan()`,
 * `waitForReports()`; a test then calls `settle()` and checks that nothing else happened. Nothing here waits a
 * fixed number of seconds: every wait is for an event, with a generous guard against hangs.
 */
import type { CspViolation } from '../browser.js'
import type { Engine, PageFunction, Tab } from './engine.js'
import type { LoggedResponse, Report, ReportingProxy } from './reporting-proxy.js'

/** Guard against a page that never gets there: failing after it is a hang report, not a verdict. */
const WAIT_GUARD_MS = 30_000

export interface PageVisit {
  engine: Engine
  tab: Tab
  url: string
  /** The document's response as the upstream server sent it (before the proxy added `report-uri`). */
  response: LoggedResponse | undefined
  /** Every response the proxy passed on during the visit, in order. */
  responses: LoggedResponse[]
  /** What the page's enforced policies blocked, as of the last `settle()`. */
  reports: Report[]
  /**
   * The same, as a sorted set of `<effective directive> <blocked URI>` (`script-src-elem inline`,
   * `script-src-elem http://…/evil.js`): what tests compare, since engines differ in how often they report one
   * block (WebKit reports a blocked `<script src>` twice).
   */
  readonly blocked: string[]
  /**
   * `securitypolicyviolation` events of enforced policies (top document and frames), where the engine can record
   * them (not WebKit's WebDriver); as of the last `settle()`. A block may fire once per policy that blocks it.
   */
  events: CspViolation[] | undefined
  /** `window.__ran`, as of the last `settle()`. */
  ran: string[]
  /** Console and error messages, where the driver receives them. */
  messages: string[] | undefined
  /** Waits for every report sent so far, then reads `ran`, `reports`, `events` and `messages` again. */
  settle(): Promise<PageVisit>
  /** Waits until `window.__ran` holds every id of `ids` (as many times as listed), then settles. */
  waitForRan(ids: readonly string[]): Promise<PageVisit>
  /** Waits until at least `count` reports came in, then settles. */
  waitForReports(count: number): Promise<PageVisit>
  /** Waits until `blocked` holds each of `entries` (`<directive> <blocked URI>`), then settles. */
  waitForBlocked(entries: readonly string[]): Promise<PageVisit>
  /** Polls `fn(...args)` in the page until it returns a truthy value, and gives that value. */
  waitFor<A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A): Promise<R>
  evaluate<A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A): Promise<R>
  /** `getComputedStyle(first match of selector).getPropertyValue(property)`; throws if nothing matches. */
  style(selector: string, property: string): Promise<string>
  /** Everything the visit saw, for assertion messages. */
  describe(): string
  close(): Promise<void>
}

export async function visit(engine: Engine, proxy: ReportingProxy, path: string): Promise<PageVisit> {
  const url = new URL(path, proxy.origin + '/').href
  const log = proxy.begin()
  const tab = await engine.open(url)
  const requested = new URL(url).pathname + new URL(url).search

  const evaluate = <A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A) => tab.evaluate(fn, ...args)
  const waitUntil = async (what: string, check: () => Promise<boolean>) => {
    const started = Date.now()
    while (!(await check())) {
      if (Date.now() - started > WAIT_GUARD_MS)
        throw new Error(`${engine.version}: still waiting, after ${WAIT_GUARD_MS / 1000} s, for ${what}\n${result.describe()}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  const result: PageVisit = {
    engine,
    tab,
    url,
    get response() {
      return log.responses.find((r) => r.html && r.path === requested) ?? log.responses.find((r) => r.html)
    },
    responses: log.responses,
    reports: [],
    get blocked() {
      return [...new Set(result.reports.map((r) => `${r.effectiveDirective} ${r.blockedURI}`))].sort()
    },
    events: undefined,
    ran: [],
    messages: undefined,
    async settle() {
      await proxy.barrier((image) =>
        tab.evaluate((src) => {
          const w = window as unknown as { __cspSealSentinels?: HTMLImageElement[] }
          const img = new Image()
          ;(w.__cspSealSentinels ??= []).push(img) // kept referenced until it has loaded
          img.src = src
        }, image),
      )
      result.reports = [...log.reports]
      result.ran = await readRan(tab)
      result.events = tab.events ? (await tab.events()).filter((e) => e.disposition === 'enforce') : undefined
      result.messages = tab.messages?.()
      return result
    },
    async waitForRan(ids) {
      await waitUntil(`window.__ran to hold ${JSON.stringify(ids)}`, async () => {
        const ran = await readRan(tab)
        return ids.every((id) => ran.filter((x) => x === id).length >= ids.filter((x) => x === id).length)
      })
      return result.settle()
    },
    async waitForReports(count) {
      await waitUntil(`${count} violation report(s)`, async () => log.reports.length >= count)
      return result.settle()
    },
    async waitForBlocked(entries) {
      const has = () => entries.every((entry) => log.reports.some((r) => `${r.effectiveDirective} ${r.blockedURI}` === entry))
      await waitUntil(`reports of ${JSON.stringify(entries)}`, async () => has())
      return result.settle()
    },
    async waitFor(fn, ...args) {
      let value: Awaited<ReturnType<typeof fn>> | undefined
      await waitUntil(`${fn.toString().slice(0, 120)} to be true`, async () => Boolean((value = await tab.evaluate(fn, ...args))))
      return value!
    },
    evaluate,
    async style(selector, property) {
      const value = await tab.evaluate(
        (sel: string, prop: string) => {
          const el = document.querySelector(sel)
          return el ? getComputedStyle(el).getPropertyValue(prop) : null
        },
        selector,
        property,
      )
      if (value === null) throw new Error(`no element matches ${JSON.stringify(selector)} on ${url}`)
      return value
    },
    describe() {
      return JSON.stringify(
        {
          engine: engine.version,
          url,
          ran: result.ran,
          reports: result.reports.map((r) => `${r.effectiveDirective} ${r.blockedURI} (${r.documentURI}${r.lineNumber ? `:${r.lineNumber}` : ''})`),
          events: result.events?.map((e) => `${e.effectiveDirective} ${e.blockedURI} ${e.frameUrl}`),
          messages: result.messages,
          badResponses: log.responses.filter((r) => r.status >= 400).map((r) => `${r.status} ${r.path}`),
        },
        null,
        2,
      )
    },
    close: () => tab.close(),
  }
  try {
    return await result.settle()
  } catch (error) {
    await tab.close().catch(() => undefined)
    throw error
  }
}

async function readRan(tab: Tab): Promise<string[]> {
  return tab.evaluate(() => {
    const ran = (window as unknown as { __ran?: unknown }).__ran
    return Array.isArray(ran) ? ran.map((x) => String(x)) : []
  })
}
