/** Assertions shared by the server runtime's browser tests. */
import { expect } from 'vitest'
import { computedStyle, describeVisit, type ExpectedPage, type Visit } from './browser.js'

/** Every expected script ran, every style applied, and nothing was blocked or failed. */
export async function expectWorking(v: Visit, page: ExpectedPage): Promise<void> {
  const info = describeVisit(v)
  expect(v.response?.status(), info).toBe(200)
  expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
  for (const id of page.inert) expect(v.ran, info).not.toContain(id)
  for (const [selector, property, value] of page.styles) {
    expect(await computedStyle(v.page, selector, property), `${page.path}: ${selector} { ${property} }`).toBe(value)
  }
  expect(v.violations, info).toEqual([])
  expect(v.cspConsoleErrors, info).toEqual([])
  expect(v.integrityErrors, info).toEqual([])
  expect(v.pageErrors, info).toEqual([])
  expect(v.badResponses, info).toEqual([])
  expect(v.failedRequests, info).toEqual([])
}

/** The nonces the response header names, the one the page's scripts read from the csp-nonce meta, and how many of csp-seal's policy metas remain. */
export async function noncesOf(v: Visit): Promise<{ fromHeader: string[]; fromMeta: string | null; policyMetas: number }> {
  const header = v.response!.headers()['content-security-policy'] ?? ''
  const fromHeader = [...header.matchAll(/'nonce-([^']+)'/g)].map((m) => m[1]!)
  const fromMeta = await v.page.evaluate(() => (document.querySelector('meta[property=csp-nonce]') as HTMLMetaElement | null)?.nonce ?? null)
  const policyMetas = await v.page.evaluate(() => document.querySelectorAll('meta[http-equiv="Content-Security-Policy" i][data-csp-seal]').length)
  return { fromHeader, fromMeta, policyMetas }
}

/**
 * One nonce, in script-src and style-src and in the csp-nonce meta the page reads; no policy meta left; a
 * response no cache may keep or revalidate.
 */
export async function expectNonced(v: Visit, format = /^[A-Za-z0-9+/]{22}==$/): Promise<string> {
  const { fromHeader, fromMeta, policyMetas } = await noncesOf(v)
  expect(fromHeader).toHaveLength(2)
  expect(new Set(fromHeader)).toEqual(new Set([fromMeta]))
  expect(fromMeta).toMatch(format)
  expect(policyMetas).toBe(0)
  const headers = v.response!.headers()
  expect(headers['cache-control']).toBe('no-store')
  expect(headers.etag).toBeUndefined()
  expect(headers['last-modified']).toBeUndefined()
  return fromMeta!
}
