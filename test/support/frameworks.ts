/**
 * Real framework builds as test fixtures: every `fixtures/frameworks/<name>/fixture.json` (its fields are
 * described on `FrameworkFixture` below), a static host for their `site/` folders, and one run of a fixture in
 * real Chromium that returns what it saw as plain data.
 *
 * - `listFrameworkFixtures()` reads and checks every fixture.json.
 * - `serveSite(dir, fixture)` serves a fixture's `site/` (or a sealed copy of it) on 127.0.0.1 the way a static
 *   host does: the site under `base`, clean URLs (`/x` answers `x.html` or `x/index.html`), the `fallback` file
 *   for unknown routes (status 200, like an SPA rewrite), else the site's own `404.html` (status 404), correct
 *   content types. Each request is logged with the file that answered it.
 * - `exerciseFixture(browser, fixture, server)` loads every page directly, follows every in-app navigation
 *   (proving it stayed in the same document when the fixture claims a client-side router), runs every
 *   interaction, reads every computed style, and collects CSP violations, uncaught exceptions, console errors
 *   and failed requests per step. Nothing is asserted here: tests compare runs (e.g. a sealed copy against the
 *   unsealed build) or check them against the fixture.
 *
 * Every wait is for a condition, with `HANG_GUARD_MS` only as a guard against a hung page; a wait that runs out
 * is recorded as the step's `error`, never thrown, so one broken step does not hide the others.
 */
import { cp, mkdtemp, readFile, realpath, stat } from 'node:fs/promises'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { contentTypeOf } from '../../src/server/content-types.js'
import { createMiddleware } from '../../src/server/index.js'
import { describeVisit, originOf, visit, type BadResponse, type Browser, type CspViolation, type FailedRequest, type Page, type Visit } from './browser.js'

export const FRAMEWORK_FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/frameworks/', import.meta.url))

/** How long any single wait may take before the step is recorded as failed (a hung page, not a slow one). */
export const HANG_GUARD_MS = 30_000

// ---------------------------------------------------------------------------------------------------------
// fixture.json

export interface FixtureNavigation {
  /** Page to start from (URL path under `base`). */
  from: string
  /** Selector of the in-app link to click. */
  click: string
  /** Where the click must lead: the URL path (under `base`) and a selector present there. */
  expect: { path: string; selector: string }
}

export interface FixtureInteraction {
  page: string
  click: string
  /** A selector that exists once the click has done its work. */
  expect: { selector: string }
}

export interface FixtureStyle {
  page: string
  selector: string
  /** CSS property name, e.g. `color`, `background-color`. */
  property: string
}

/**
 * One fixture: `fixtures/frameworks/<name>/` holds `fixture.json` (these fields), `regenerate.sh` (rebuilds
 * `site/`, and `project/` where kept, from the framework's own template with pinned versions), `changes/` (the
 * files it adds to or edits in the generated project), `site/` (the unsealed build, as the framework wrote it)
 * and, where a test builds the project itself, `project/` (its sources and lock file).
 * URL paths (`pages`, `navigations`, `interactions`, `styles`, `deepLinks`) are under `base`, written as the
 * site's own links write them.
 */
export interface FrameworkFixture {
  /** The folder name. */
  name: string
  /** Display name, e.g. "VitePress". */
  framework: string
  /** Framework version the build used. */
  version: string
  /** How the project was made (generator and its version, options). */
  generator: string
  /** Node version of the build. */
  node: string
  /** What a user must know (e.g. the newest release that runs on Node 20). */
  notes: string
  /** Does the built site render other pages inside the first document (client-side navigation)? */
  clientRouter: boolean
  /** Short id of the router/runtime as the build shows it, for detection tests (e.g. "vitepress"); null for none. */
  router: string | null
  /** URL path the site is served under, ending in "/". */
  base: string
  /** File that answers unknown routes (SPA deep links), e.g. "index.html", or null. */
  fallback: string | null
  /** Are links written without `.html`, so the host maps `/x` to `x.html` or `x/index.html`? */
  cleanUrls: boolean
  /** Pages to load directly. */
  pages: string[]
  /** Selector present once the app has rendered (any page). */
  ready: string
  /** Client-side navigations: from a page, click a link, arrive at a path where a selector exists. */
  navigations: FixtureNavigation[]
  /** Widgets to exercise (theme toggle, counter): click, then a selector exists. */
  interactions: FixtureInteraction[]
  /** Marked elements whose computed style must not change when the site is sealed. */
  styles: FixtureStyle[]
  /** Client routes that are not files (answered by the fallback). */
  deepLinks: string[]
  /** Other origins the pages load passive content from. */
  external: string[]
  /** Absolute path of the fixture folder. */
  dir: string
  /** Absolute path of its `site/` (the unsealed build). */
  siteDir: string
  /** Absolute path of its `project/` (sources), or null when the fixture keeps none. */
  projectDir: string | null
}

type Json = Record<string, unknown>

function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}`)
}

function field<T>(file: string, obj: Json, key: string, check: (v: unknown) => v is T, what: string): T {
  const value = obj[key]
  if (!check(value)) fail(file, `"${key}" must be ${what}, got ${JSON.stringify(value)}`)
  return value
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean'
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string'
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString)
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const isObjectArray = (v: unknown): v is Json[] => Array.isArray(v) && v.every(isObject)
const isUrlPath = (v: unknown): v is string => typeof v === 'string' && v.startsWith('/')
const isUrlPathArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isUrlPath)

/** Read and check one fixture.json (`dir` is the fixture folder). */
export function readFrameworkFixture(dir: string): FrameworkFixture {
  const file = path.join(dir, 'fixture.json')
  let data: unknown
  try {
    data = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    fail(file, `not readable JSON (${(err as Error).message})`)
  }
  if (!isObject(data)) fail(file, 'must hold a JSON object')
  const str = (key: string) => field(file, data, key, isString, 'a string')
  const name = str('name')
  if (name !== path.basename(dir)) fail(file, `"name" is ${JSON.stringify(name)} but the folder is ${path.basename(dir)}`)
  const base = field(file, data, 'base', isUrlPath, 'a URL path starting with "/"')
  if (!base.endsWith('/')) fail(file, `"base" must end with "/", got ${JSON.stringify(base)}`)

  const navigations = field(file, data, 'navigations', isObjectArray, 'an array of objects').map((n, i) => {
    const at = `navigations[${i}]`
    const expect = field(file, n, 'expect', isObject, `an object (${at})`)
    return {
      from: field(file, n, 'from', isUrlPath, `a URL path (${at})`),
      click: field(file, n, 'click', isString, `a selector (${at})`),
      expect: {
        path: field(file, expect, 'path', isUrlPath, `a URL path (${at}.expect)`),
        selector: field(file, expect, 'selector', isString, `a selector (${at}.expect)`),
      },
    }
  })
  const interactions = field(file, data, 'interactions', isObjectArray, 'an array of objects').map((n, i) => {
    const at = `interactions[${i}]`
    const expect = field(file, n, 'expect', isObject, `an object (${at})`)
    return {
      page: field(file, n, 'page', isUrlPath, `a URL path (${at})`),
      click: field(file, n, 'click', isString, `a selector (${at})`),
      expect: { selector: field(file, expect, 'selector', isString, `a selector (${at}.expect)`) },
    }
  })
  const styles = field(file, data, 'styles', isObjectArray, 'an array of objects').map((n, i) => {
    const at = `styles[${i}]`
    return {
      page: field(file, n, 'page', isUrlPath, `a URL path (${at})`),
      selector: field(file, n, 'selector', isString, `a selector (${at})`),
      property: field(file, n, 'property', isString, `a CSS property (${at})`),
    }
  })

  const siteDir = path.join(dir, 'site')
  const projectDir = path.join(dir, 'project')
  const hasDir = (p: string) => {
    try {
      return readdirSync(p).length > 0
    } catch {
      return false
    }
  }
  if (!hasDir(siteDir)) fail(file, 'the fixture has no site/ folder (run its regenerate.sh)')

  return {
    name,
    framework: str('framework'),
    version: str('version'),
    generator: str('generator'),
    node: str('node'),
    notes: str('notes'),
    clientRouter: field(file, data, 'clientRouter', isBoolean, 'true or false'),
    router: field(file, data, 'router', (v: unknown): v is string | null => v === null || isString(v), 'a string or null'),
    base,
    fallback: field(file, data, 'fallback', isStringOrNull, 'a file name or null'),
    cleanUrls: field(file, data, 'cleanUrls', isBoolean, 'true or false'),
    pages: field(file, data, 'pages', isUrlPathArray, 'an array of URL paths'),
    ready: str('ready'),
    navigations,
    interactions,
    styles,
    deepLinks: field(file, data, 'deepLinks', isUrlPathArray, 'an array of URL paths'),
    external: field(file, data, 'external', isStringArray, 'an array of origins'),
    dir,
    siteDir,
    projectDir: hasDir(projectDir) ? projectDir : null,
  }
}

/** Every fixture under fixtures/frameworks/ (each folder with a fixture.json), sorted by name. */
export function listFrameworkFixtures(): FrameworkFixture[] {
  return readdirSync(FRAMEWORK_FIXTURES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && readdirSync(path.join(FRAMEWORK_FIXTURES_DIR, e.name)).includes('fixture.json'))
    .map((e) => readFrameworkFixture(path.join(FRAMEWORK_FIXTURES_DIR, e.name)))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** A fresh temp copy of a fixture's site/, for a test to seal (never seal the fixture itself). */
export async function copyFixtureSite(fixture: FrameworkFixture): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `csp-seal-${fixture.name}-site-`))
  await cp(fixture.siteDir, dir, { recursive: true })
  return dir
}

/** A URL path of the fixture (as written in fixture.json, under `base`) as a path from the server root. */
export function sitePath(fixture: Pick<FrameworkFixture, 'base'>, urlPath: string): string {
  return fixture.base.replace(/\/$/, '') + urlPath
}

// ---------------------------------------------------------------------------------------------------------
// Static host

export interface ServedRequest {
  /** Request path with query, as sent. */
  url: string
  status: number
  /** File that answered, relative to the site root (posix), or null (404 without a 404 page, 400, 405). */
  file: string | null
  /** How the file was found: the path itself, a clean URL, the fallback, or the site's 404 page. */
  via: 'file' | 'clean-url' | 'fallback' | 'not-found' | null
}

export interface SiteServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  origin: string
  /** Absolute URL of a fixture URL path (under `base`). */
  url(urlPath: string): string
  requests: ServedRequest[]
  close(): Promise<void>
}

export interface ServeSiteOptions {
  /** Extra response headers (e.g. a CSP header for a sealed copy); `file` is relative to the site root. */
  headers?: (file: string, urlPath: string) => Record<string, string | undefined>
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile()
  } catch {
    return false
  }
}

/**
 * Serve `dir` (a fixture's site/ or a copy of it) as a static host would for this fixture: under
 * `fixture.base`, with clean URLs and the fallback.
 */
export async function serveSite(dir: string, fixture: Pick<FrameworkFixture, 'base' | 'fallback'>, opts: ServeSiteOptions = {}): Promise<SiteServer> {
  const root = await realpath(path.resolve(dir))
  const requests: ServedRequest[] = []
  const base = fixture.base

  /** A file inside root for a site-relative path, or null (never outside root, symlinks included). */
  const inside = async (rel: string): Promise<string | null> => {
    const candidate = path.resolve(root, rel)
    if (candidate !== root && !candidate.startsWith(root + path.sep)) return null
    if (!(await isFile(candidate))) return null
    const real = await realpath(candidate)
    return real.startsWith(root + path.sep) ? real : null
  }

  const resolve = async (urlPath: string): Promise<{ file: string; via: ServedRequest['via'] } | null> => {
    if (!urlPath.startsWith(base) && urlPath + '/' !== base) return null
    const rel = urlPath.slice(base.length)
    if (rel.split('/').some((s) => s === '..' || s === '.')) return null
    if (rel === '' || rel.endsWith('/')) {
      const index = await inside(rel + 'index.html')
      return index ? { file: index, via: 'file' } : null
    }
    const exact = await inside(rel)
    if (exact) return { file: exact, via: 'file' }
    for (const clean of [rel + '.html', rel + '/index.html']) {
      const found = await inside(clean)
      if (found) return { file: found, via: 'clean-url' }
    }
    return null
  }

  const send = (res: ServerResponse, status: number, headers: Record<string, string | undefined>, body: Buffer, head: boolean) => {
    const out: Record<string, string> = { 'Cache-Control': 'no-store', 'Content-Length': String(body.length) }
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v
    res.writeHead(status, out)
    res.end(head ? undefined : body)
  }
  const text = (s: string) => ({ 'Content-Type': 'text/plain; charset=utf-8', body: Buffer.from(s, 'utf8') })

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? '/'
    const head = req.method === 'HEAD'
    const log = (status: number, file: string | null, via: ServedRequest['via']) =>
      requests.push({ url: rawUrl, status, file: file && path.relative(root, file).split(path.sep).join('/'), via })

    if (req.method !== 'GET' && !head) {
      const t = text('Method Not Allowed\n')
      log(405, null, null)
      send(res, 405, { 'Content-Type': t['Content-Type'], Allow: 'GET, HEAD' }, t.body, head)
      return
    }
    const pathPart = rawUrl.split(/[?#]/, 1)[0] ?? '/'
    let urlPath: string
    try {
      if (/%2f|%5c|%00/i.test(pathPart)) throw new Error('encoded separator')
      urlPath = decodeURIComponent(pathPart)
      if (!urlPath.startsWith('/') || urlPath.includes('\0') || urlPath.includes('\\')) throw new Error('bad path')
    } catch {
      const t = text('Bad Request\n')
      log(400, null, null)
      send(res, 400, { 'Content-Type': t['Content-Type'] }, t.body, head)
      return
    }

    let found = await resolve(urlPath)
    let status = 200
    if (!found && fixture.fallback) {
      const file = await inside(fixture.fallback)
      if (file) found = { file, via: 'fallback' }
    }
    if (!found) {
      status = 404
      const page = await inside('404.html')
      if (page) found = { file: page, via: 'not-found' }
    }
    if (!found) {
      const t = text('Not Found\n')
      log(404, null, null)
      send(res, 404, { 'Content-Type': t['Content-Type'] }, t.body, head)
      return
    }
    const rel = path.relative(root, found.file).split(path.sep).join('/')
    log(status, found.file, found.via)
    const extra = opts.headers?.(rel, urlPath) ?? {}
    send(res, status, { 'Content-Type': contentTypeOf(found.file), ...extra }, await readFile(found.file), head)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) res.destroy()
      else send(res, 500, { 'Content-Type': 'text/plain; charset=utf-8' }, Buffer.from(`${String(err)}\n`), false)
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((ok, ko) => {
    server.once('error', ko)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', ko)
      ok()
    })
  })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    url: (urlPath) => origin + sitePath(fixture, urlPath),
    requests,
    close: () =>
      new Promise<void>((ok, ko) => {
        server.close((err) => (err ? ko(err) : ok()))
        server.closeAllConnections()
      }),
  }
}

// ---------------------------------------------------------------------------------------------------------
// One run of a fixture in Chromium

/** What went wrong in a document while a step ran (all empty for a healthy unsealed build). */
export interface Problems {
  violations: CspViolation[]
  cspConsoleErrors: string[]
  integrityErrors: string[]
  /** Uncaught exceptions. */
  pageErrors: string[]
  /** Console messages of type 'error' (including the browser's own, e.g. a failed load). */
  consoleErrors: string[]
  /** Requests that failed (network error or blocked), except those the page cancelled itself. */
  failedRequests: FailedRequest[]
  /** Requests the page cancelled itself (`net::ERR_ABORTED`, e.g. a prefetch overtaken by the navigation). */
  abortedRequests: string[]
  /**
   * Failed loads from the fixture's `external` origins (the test machine has no network), as failed requests
   * and console errors; a CSP block of such a load is still in `violations`.
   */
  externalFailures: string[]
  /** Responses with status >= 400. */
  badResponses: BadResponse[]
}

export interface PageCheck extends Problems {
  /** URL path under `base`, as in fixture.json. */
  path: string
  status: number | null
  /** The request log entry of the document (which file answered, and how). */
  served: ServedRequest | null
  /** Whether `ready` appeared. */
  ready: boolean
  title: string
  /** `document.body.innerText` once ready (and before any interaction). */
  text: string
  /** Set when a wait ran out or the page failed to load. */
  error: string | null
}

export interface NavigationCheck extends Problems {
  from: string
  click: string
  expect: { path: string; selector: string }
  /** URL path (from the server root) once the navigation settled, or the last one seen. */
  finalPath: string
  /** The URL path became `expect.path` and `expect.selector` exists. */
  arrived: boolean
  /** The page was not reloaded: a marker set on `window` before the click survived. */
  clientSide: boolean
  /**
   * HTML files the server answered from the click on: a reload asks for the next page as a document; a client
   * router asks for none, or fetches the page's HTML to render it in place (Astro's does).
   */
  documentRequests: string[]
  title: string
  /** `document.body.innerText` on arrival. */
  text: string
  error: string | null
}

export interface InteractionCheck {
  page: string
  click: string
  expect: { selector: string }
  /** `expect.selector` appeared after the click. */
  done: boolean
  error: string | null
}

export interface StyleCheck {
  page: string
  selector: string
  property: string
  /** `getComputedStyle(el).getPropertyValue(property)` of the first match, or null if nothing matched. */
  value: string | null
  error: string | null
}

export interface FixtureRun {
  fixture: string
  pages: PageCheck[]
  navigations: NavigationCheck[]
  interactions: InteractionCheck[]
  styles: StyleCheck[]
}

const NAV_MARKER = '__cspSealSameDocument'

function noProblems(): Problems {
  return {
    violations: [],
    cspConsoleErrors: [],
    integrityErrors: [],
    pageErrors: [],
    consoleErrors: [],
    failedRequests: [],
    abortedRequests: [],
    externalFailures: [],
    badResponses: [],
  }
}

/**
 * What a visit reported (call `v.collect()` first). Chromium asks for `/favicon.ico` by itself when a page
 * declares no icon; that 404 is the browser's, not the site's, and is left out.
 */
async function problemsOf(v: Visit, fixture: FrameworkFixture, origin: string): Promise<Problems> {
  const declaresIcon = await v.page.evaluate(() => document.querySelector('link[rel~="icon" i]') !== null).catch(() => true)
  const browserFavicon = (url: string) => !declaresIcon && url === `${origin}/favicon.ico`
  const external = (url: string) => fixture.external.includes(originOf(url) ?? '')
  const aborted = (r: FailedRequest) => r.failure === 'net::ERR_ABORTED'
  const consoleErrors = v.consoleMessages.filter((m) => m.type === 'error' && !browserFavicon(m.url))
  return {
    violations: v.violations,
    cspConsoleErrors: v.cspConsoleErrors,
    integrityErrors: v.integrityErrors,
    pageErrors: [...v.pageErrors],
    consoleErrors: consoleErrors.filter((m) => !external(m.url)).map((m) => `${m.text} (${m.url}:${m.lineNumber})`),
    failedRequests: v.failedRequests.filter((r) => !aborted(r) && !external(r.url)),
    abortedRequests: v.failedRequests.filter((r) => aborted(r) && !external(r.url)).map((r) => r.url),
    externalFailures: [
      ...v.failedRequests.filter((r) => external(r.url)).map((r) => `${r.url} (${r.failure})`),
      ...consoleErrors.filter((m) => external(m.url)).map((m) => `${m.text} (${m.url})`),
    ],
    badResponses: v.badResponses.filter((r) => !browserFavicon(r.url)),
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err)
}

async function waitForSelector(page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector, { state: 'attached', timeout: HANG_GUARD_MS })
}

async function pageText(page: Page): Promise<{ title: string; text: string }> {
  return page.evaluate(() => ({ title: document.title, text: document.body?.innerText ?? '' }))
}

/**
 * The page's text once a client-side navigation has settled: a router may still be swapping or animating the
 * views (Astro's view transitions) when the next page's element appears. Settled means no animation running and
 * the same title and text on two reads a frame and a moment apart; a page that never settles is a hang.
 */
async function settledText(page: Page): Promise<{ title: string; text: string }> {
  const deadline = Date.now() + HANG_GUARD_MS
  let last = await pageText(page)
  for (;;) {
    await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'), undefined, { timeout: HANG_GUARD_MS })
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50))))
    const now = await pageText(page)
    if (now.title === last.title && now.text === last.text) return now
    if (Date.now() > deadline) throw new Error(`the page's text did not settle after ${HANG_GUARD_MS} ms`)
    last = now
  }
}

/**
 * Wait until a `click` listener is attached to the element matching `selector` or to one of its ancestors
 * (`document` and `window` count only when `includeDocument`): the sign that the framework has hydrated or
 * rendered that part of the page, so a click goes to its handler instead of the browser's default. Server-
 * rendered pages show their links and buttons before their scripts run; clicking too early would reload the
 * page or do nothing. Routers listen on the link, on the app's root, on `document` or on `window`; widgets on
 * the element or the app's root (a router's document listener does not mean the widget is ready).
 */
async function waitForClickHandler(page: Page, selector: string, includeDocument: boolean): Promise<void> {
  const cdp = await page.context().newCDPSession(page)
  const deadline = Date.now() + HANG_GUARD_MS
  const group = 'csp-seal-click-handler'
  try {
    for (;;) {
      const { result } = await cdp.send('Runtime.evaluate', {
        expression: `(() => {
          const path = [];
          for (let n = document.querySelector(${JSON.stringify(selector)}); n; n = n.parentNode) path.push(n);
          if (path.length > 0 && ${includeDocument}) path.push(window);
          return path.filter((n) => ${includeDocument} || n.nodeType === Node.ELEMENT_NODE);
        })()`,
        objectGroup: group,
      })
      let found = false
      if (result.objectId) {
        const { result: items } = await cdp.send('Runtime.getProperties', { objectId: result.objectId, ownProperties: true })
        for (const item of items) {
          if (!/^\d+$/.test(item.name) || !item.value?.objectId) continue
          const { listeners } = await cdp.send('DOMDebugger.getEventListeners', { objectId: item.value.objectId })
          if (listeners.some((l) => l.type === 'click')) {
            found = true
            break
          }
        }
      }
      await cdp.send('Runtime.releaseObjectGroup', { objectGroup: group })
      if (found) return
      if (Date.now() > deadline) {
        throw new Error(`no click handler on ${JSON.stringify(selector)} or its ancestors after ${HANG_GUARD_MS} ms`)
      }
      // Poll: listeners fire no event when added.
      await new Promise((r) => setTimeout(r, 25))
    }
  } finally {
    await cdp.detach().catch(() => undefined)
  }
}

function documentPaths(server: SiteServer, since: number): string[] {
  return server.requests
    .slice(since)
    .filter((r) => r.file !== null && /\.html?$/i.test(r.file))
    .map((r) => r.url)
}

async function checkPage(
  browser: Browser,
  fixture: FrameworkFixture,
  server: SiteServer,
  urlPath: string,
  interactions: FixtureInteraction[],
  styles: FixtureStyle[],
): Promise<{ page: PageCheck; interactions: InteractionCheck[]; styles: StyleCheck[] }> {
  const since = server.requests.length
  const url = server.url(urlPath)
  const result: PageCheck = {
    path: urlPath,
    status: null,
    served: null,
    ready: false,
    title: '',
    text: '',
    error: null,
    ...noProblems(),
  }
  const interactionChecks: InteractionCheck[] = interactions.map((i) => ({ ...i, done: false, error: 'not run' }))
  const styleChecks: StyleCheck[] = styles.map((s) => ({ ...s, value: null, error: 'not run' }))

  let v: Visit
  try {
    v = await visit(browser, url)
  } catch (err) {
    result.error = `load failed: ${message(err)}`
    return { page: result, interactions: interactionChecks, styles: styleChecks }
  }
  try {
    result.status = v.response?.status() ?? null
    const wanted = new URL(url).pathname
    result.served = server.requests.slice(since).find((r) => r.url.split(/[?#]/)[0] === wanted) ?? null
    try {
      await waitForSelector(v.page, fixture.ready)
      result.ready = true
      Object.assign(result, await pageText(v.page))
    } catch (err) {
      result.error = `ready selector ${JSON.stringify(fixture.ready)}: ${message(err)}`
    }

    for (const s of styleChecks) {
      try {
        await waitForSelector(v.page, s.selector)
        s.value = await v.page.evaluate(
          ([sel, prop]) => {
            const el = document.querySelector(sel)
            return el ? getComputedStyle(el).getPropertyValue(prop) : null
          },
          [s.selector, s.property] as const,
        )
        s.error = s.value === null ? 'no element matches' : null
      } catch (err) {
        s.error = message(err)
      }
    }

    for (const i of interactionChecks) {
      try {
        await waitForSelector(v.page, i.click)
        // A <summary> or <label> works without script; anything else waits for the app to attach its handler.
        const native = await v.page.$eval(i.click, (el) => el.closest('summary, label') !== null)
        if (!native) await waitForClickHandler(v.page, i.click, false)
        await v.page.click(i.click, { timeout: HANG_GUARD_MS })
        await waitForSelector(v.page, i.expect.selector)
        i.done = true
        i.error = null
      } catch (err) {
        i.error = message(err)
      }
    }
    await v.collect()
    Object.assign(result, await problemsOf(v, fixture, server.origin))
  } finally {
    await v.close()
  }
  return { page: result, interactions: interactionChecks, styles: styleChecks }
}

async function checkNavigation(browser: Browser, fixture: FrameworkFixture, server: SiteServer, nav: FixtureNavigation): Promise<NavigationCheck> {
  const result: NavigationCheck = {
    ...nav,
    finalPath: '',
    arrived: false,
    clientSide: false,
    documentRequests: [],
    title: '',
    text: '',
    error: null,
    ...noProblems(),
  }
  let v: Visit
  try {
    v = await visit(browser, server.url(nav.from))
  } catch (err) {
    result.error = `load of ${nav.from} failed: ${message(err)}`
    return result
  }
  const target = sitePath(fixture, nav.expect.path)
  try {
    await waitForSelector(v.page, fixture.ready)
    await waitForSelector(v.page, nav.click)
    if (fixture.clientRouter) await waitForClickHandler(v.page, nav.click, true)
    const marker = Math.random().toString(36).slice(2)
    await v.page.evaluate(([key, value]) => ((window as unknown as Record<string, string>)[key] = value), [NAV_MARKER, marker] as const)
    const since = server.requests.length
    await v.page.click(nav.click, { timeout: HANG_GUARD_MS })
    await v.page.waitForURL((u) => u.pathname === target, { waitUntil: 'commit', timeout: HANG_GUARD_MS })
    await waitForSelector(v.page, nav.expect.selector)
    result.arrived = true
    result.clientSide = await v.page.evaluate(([key, value]) => (window as unknown as Record<string, string>)[key] === value, [NAV_MARKER, marker] as const)
    result.documentRequests = documentPaths(server, since)
    Object.assign(result, await settledText(v.page))
  } catch (err) {
    result.error = message(err)
  } finally {
    try {
      result.finalPath = new URL(v.page.url()).pathname
    } catch {
      /* closed */
    }
    await v.collect()
    Object.assign(result, await problemsOf(v, fixture, server.origin))
    await v.close()
  }
  return result
}

/**
 * Run a fixture in Chromium against `server` (serving its site/ or a sealed copy): every page of `pages` and
 * of `deepLinks` loaded directly (reading `styles` and running `interactions` of that page on the same load,
 * after its text was read), then every navigation from a fresh load. Pages are visited one at a time: the
 * machine is small and the results must not depend on its load. Each load is a first visit in a tab `visit()` lends
 * (no cookie or storage of an earlier visit, the tab's history reset, no HTTP cache).
 */
export async function exerciseFixture(browser: Browser, fixture: FrameworkFixture, server: SiteServer): Promise<FixtureRun> {
  const run: FixtureRun = { fixture: fixture.name, pages: [], navigations: [], interactions: [], styles: [] }
  const paths = [...new Set([...fixture.pages, ...fixture.deepLinks, ...fixture.interactions.map((i) => i.page), ...fixture.styles.map((s) => s.page)])]
  for (const p of paths) {
    const checked = await checkPage(
      browser,
      fixture,
      server,
      p,
      fixture.interactions.filter((i) => i.page === p),
      fixture.styles.filter((s) => s.page === p),
    )
    run.pages.push(checked.page)
    run.interactions.push(...checked.interactions)
    run.styles.push(...checked.styles)
  }
  for (const nav of fixture.navigations) run.navigations.push(await checkNavigation(browser, fixture, server, nav))
  return run
}

/** Every problem of a run as one line each (`<fixture> <step>: <what>`), for assertion messages and reports. */
export function describeProblems(run: FixtureRun): string[] {
  const out: string[] = []
  const add = (step: string, p: Problems & { error?: string | null }) => {
    if (p.error) out.push(`${run.fixture} ${step}: ${p.error}`)
    for (const x of p.violations)
      out.push(`${run.fixture} ${step}: CSP ${x.effectiveDirective} blocked ${x.blockedURI || 'inline'} (${x.sourceFile}:${x.lineNumber}) ${x.sample}`)
    for (const x of p.pageErrors) out.push(`${run.fixture} ${step}: uncaught ${x}`)
    for (const x of p.consoleErrors) out.push(`${run.fixture} ${step}: console error ${x}`)
    for (const x of p.failedRequests) out.push(`${run.fixture} ${step}: request failed ${x.url} (${x.failure})`)
    for (const x of p.badResponses) out.push(`${run.fixture} ${step}: HTTP ${x.status} ${x.url}`)
    for (const x of p.integrityErrors) out.push(`${run.fixture} ${step}: ${x}`)
  }
  for (const p of run.pages) add(`load ${p.path}`, p)
  for (const n of run.navigations) add(`navigate ${n.from} -> ${n.expect.path}`, n)
  for (const i of run.interactions) if (i.error) out.push(`${run.fixture} interact ${i.page} ${i.click}: ${i.error}`)
  for (const s of run.styles) if (s.error) out.push(`${run.fixture} style ${s.page} ${s.selector} { ${s.property} }: ${s.error}`)
  return out
}

/** What an inline script inserted into a loaded page did ({@link injectInlineScript}). */
export interface Injection {
  ran: boolean
  /** Whether a violation of `script-src-elem` for inline code was raised. */
  blocked: boolean
  /** The visit described, for a failure message. */
  details: string
}

/** {@link injectInlineScript} on the first page of `dir`, served by a static host as the fixture needs. */
export async function injectIntoServedSite(browser: Browser, dir: string, fixture: FrameworkFixture): Promise<Injection> {
  const server = await serveSite(dir, fixture)
  try {
    return await injectInlineScript(browser, server.url(fixture.pages[0]!), fixture.ready)
  } finally {
    await server.close()
  }
}

/**
 * Loads `url`, waits for `ready`, and inserts an inline script as an injection would; then waits for the
 * violation it must raise (a page where none comes hangs until vitest's guard).
 */
export async function injectInlineScript(browser: Browser, url: string, ready: string): Promise<Injection> {
  const v = await visit(browser, url)
  try {
    await v.page.waitForSelector(ready)
    await v.page.evaluate(() => {
      const script = document.createElement('script')
      script.textContent = 'window.__cspSealInjected = true'
      document.head.append(script)
    })
    await v.page.waitForFunction(() =>
      ((window as unknown as { __cspViolations?: Array<{ effectiveDirective: string; blockedURI: string }> }).__cspViolations ?? []).some(
        (x) => x.effectiveDirective === 'script-src-elem' && x.blockedURI === 'inline',
      ),
    )
    await v.collect()
    const ran = await v.page.evaluate(() => (window as unknown as { __cspSealInjected?: boolean }).__cspSealInjected === true)
    return { ran, blocked: v.violations.some((x) => x.effectiveDirective === 'script-src-elem' && x.blockedURI === 'inline'), details: describeVisit(v) }
  } finally {
    await v.close()
  }
}

/**
 * A sealed copy served by csp-seal's Node middleware on 127.0.0.1 with a fresh nonce in every page response (the
 * fixture's fallback for client routes), shaped as {@link serveSite}'s host.
 */
export async function serveWithNonces(root: string, fixture: Pick<FrameworkFixture, 'fallback'>): Promise<SiteServer> {
  const server = createServer(createMiddleware({ root, nonce: true, ...(fixture.fallback ? { fallback: fixture.fallback } : {}) }))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    url: (urlPath) => origin + urlPath,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * Calls `task` for every item, at most `n` at a time. Fixtures run side by side: their steps mostly wait (for
 * the network to go idle, for a selector), and every wait is for a condition, so no result depends on what runs
 * beside it.
 */
export async function inParallel<T>(n: number, items: T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await task(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
}
