/**
 * One interface over three browser engines, each driven as it can be from Debian's packages (never a downloaded
 * browser): Chromium through playwright-core, Firefox ESR through puppeteer-core over WebDriver BiDi, WebKitGTK
 * through WebKitWebDriver (WebDriver classic over HTTP) with its MiniBrowser under Xvfb.
 *
 * A driver only opens pages and runs functions in them. What a test needs beyond that (violation reports, the
 * document's response, waiting for the page) comes from the reporting proxy and `visit()`, the same way in every
 * engine.
 */
import type { CspViolation } from '../browser.js'

export type EngineName = 'chromium' | 'firefox' | 'webkit'

export interface Engine {
  name: EngineName
  /** The engine and its exact version, e.g. `Chromium 156.0.8078.114`, `Firefox 153.8.0esr`, `WebKitGTK 2.50.6`. */
  version: string
  /**
   * Opens `url` in the engine's one tab and waits for its load event; one tab at a time. The tab serves every visit
   * in turn: a fresh context per visit started a browser process per page, which cost more CPU than the pages did.
   * A visit sees no cookie of the one before (closing the tab deletes them and leaves the page for about:blank),
   * and in Chromium and Firefox every file comes from the server (the HTTP cache is off).
   */
  open(url: string): Promise<Tab>
  close(): Promise<void>
}

/** A function run in the page: serialised with `toString()`, so it must not use anything from its closure. */
export type PageFunction<A extends unknown[], R> = (...args: A) => R | Promise<R>

export interface Tab {
  /** Runs `fn(...args)` in the top document and gives its (JSON-serialisable) result. */
  evaluate<A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A): Promise<R>
  /** Navigates the tab and waits for the load event. */
  goto(url: string): Promise<void>
  /**
   * `securitypolicyviolation` events of the top document and its frames, recorded by a listener installed before
   * any page script runs. Only drivers that can run a script first have it (not WebDriver classic).
   */
  events?(): Promise<CspViolation[]>
  /** Console and error messages of the page, where the driver receives them. */
  messages?(): string[]
  close(): Promise<void>
}

/**
 * Whether `Tab.evaluate` failed because its document was torn down while the function ran (a click had started a
 * document load): Chromium says the execution context was destroyed, WebKit's WebDriver that the callback was not
 * called before the unload event. Such a call can simply be made again in the new document.
 */
export function documentWentAway(error: unknown): boolean {
  return /Execution context was destroyed|Callback was not called before the unload event/.test(error instanceof Error ? error.message : String(error))
}

/** Runs in a page: the violations `installViolationRecorder` (../browser.ts) kept there. */
export function recordedViolations(): CspViolation[] {
  const list = (window as unknown as { __cspViolations?: CspViolation[] }).__cspViolations
  return Array.isArray(list) ? (JSON.parse(JSON.stringify(list)) as CspViolation[]) : []
}

/** An engine's one tab, without `close`: `end()` ends a visit (deletes the cookies, leaves the page for about:blank). */
export interface SharedTab {
  tab: Omit<Tab, 'close'>
  end(): Promise<void>
}

/**
 * `Engine.open` for an engine whose one tab serves every visit in turn: `make()` makes the tab at the first visit;
 * each visit loads its page in it, and the tab's `close()` ends the visit.
 */
export function oneTabAtATime(engine: string, make: () => Promise<SharedTab>): (url: string) => Promise<Tab> {
  let made: Promise<SharedTab> | undefined
  let lent = false
  return async (url) => {
    if (lent) throw new Error(`${engine}: one tab at a time (close the last one first)`)
    lent = true
    let shared: SharedTab
    try {
      shared = await (made ??= make())
    } catch (error) {
      // A tab that could not be made is tried again at the next visit.
      made = undefined
      lent = false
      throw error
    }
    let closed = false
    const tab: Tab = {
      ...shared.tab,
      async close() {
        if (closed) return
        closed = true
        try {
          await shared.end()
        } finally {
          lent = false
        }
      },
    }
    try {
      await tab.goto(url)
    } catch (error) {
      await tab.close().catch(() => undefined)
      throw error
    }
    return tab
  }
}
