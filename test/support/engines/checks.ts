/**
 * What a working page looks like, checked the same way in every engine: a fixture's EXPECTED.json page (ids its
 * scripts push into `window.__ran`, computed styles) and no violation, no failed request, no script error.
 *
 * A new fixture joins the tier with one entry: serve it, put a reporting proxy in front, and for each engine
 * `expectWorking(await visit(engine, proxy, page.path), page)` for each page of its EXPECTED.json.
 */
import { expect } from 'vitest'
import type { ExpectedPage } from '../browser.js'
import type { PageVisit } from './visit.js'

/** Every expected script ran (waiting for them), every style applied, nothing was blocked or failed. */
export async function expectWorking(v: PageVisit, page: ExpectedPage): Promise<void> {
  await v.waitForRan(page.ran)
  const info = v.describe()
  expect(v.response?.status, info).toBe(200)
  expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
  for (const id of page.inert) expect(v.ran, info).not.toContain(id)
  for (const [selector, property, value] of page.styles) {
    expect(await v.style(selector, property), `${v.engine.version}: ${page.path}: ${selector} { ${property} }`).toBe(value)
  }
  expectNothingBlocked(v)
}

/** No violation (reports, and events where the engine records them), no failed request, no script error. */
export function expectNothingBlocked(v: PageVisit): void {
  const info = v.describe()
  expect(v.blocked, info).toEqual([])
  if (v.events) expect(v.events, info).toEqual([])
  expect(failedResponses(v), info).toEqual([])
  expect(errorMessages(v), info).toEqual([])
}

/** Responses of 400 and above during the visit (a browser's own favicon request aside). */
export function failedResponses(v: PageVisit): string[] {
  return v.responses.filter((r) => r.status >= 400 && r.path !== '/favicon.ico').map((r) => `${r.status} ${r.path}`)
}

/**
 * Errors the page logged (uncaught exceptions, CSP and integrity errors), where the driver receives them: not the
 * harness's report-only sentinel, and not "Failed to load resource" (failed responses are checked from the proxy).
 */
export function errorMessages(v: PageVisit): string[] {
  return (v.messages ?? []).filter(
    (m) =>
      /^(error|pageerror):/.test(m) &&
      !m.includes('/__csp-seal-test/') &&
      !/favicon\.ico/.test(m) &&
      !/Failed to load resource/.test(m) &&
      !/\(Report-Only policy\)/.test(m),
  )
}

/** Whether the page requested `path` through the proxy during the visit (and got it). */
export function fetched(v: PageVisit, path: string): boolean {
  return v.responses.some((r) => r.path.split('?')[0] === path && r.status === 200)
}

/**
 * The nonces the response header names, the one the page reads from the csp-nonce meta, and how many of
 * csp-seal's policy metas remain (a page's own policy meta is the page's, and stays).
 */
export async function noncesOf(v: PageVisit): Promise<{ fromHeader: string[]; fromMeta: string | null; policyMetas: number }> {
  const header = String(v.response?.headers['content-security-policy'] ?? '')
  const fromHeader = [...header.matchAll(/'nonce-([^']+)'/g)].map((m) => m[1]!)
  const fromMeta = await v.evaluate(() => (document.querySelector('meta[property=csp-nonce]') as HTMLMetaElement | null)?.nonce ?? null)
  const policyMetas = await v.evaluate(() => document.querySelectorAll('meta[http-equiv="Content-Security-Policy" i][data-csp-seal]').length)
  return { fromHeader, fromMeta, policyMetas }
}

/**
 * One nonce, in script-src and style-src and in the csp-nonce meta the page reads; no csp-seal policy meta left; a
 * response no cache may keep or revalidate.
 */
export async function expectNonced(v: PageVisit, format = /^[A-Za-z0-9+/]{22}==$/): Promise<string> {
  const { fromHeader, fromMeta, policyMetas } = await noncesOf(v)
  expect(fromHeader).toHaveLength(2)
  expect(new Set(fromHeader)).toEqual(new Set([fromMeta]))
  expect(fromMeta).toMatch(format)
  expect(policyMetas).toBe(0)
  const headers = v.response!.headers
  expect(headers['cache-control']).toBe('no-store')
  expect(headers.etag).toBeUndefined()
  expect(headers['last-modified']).toBeUndefined()
  return fromMeta!
}
