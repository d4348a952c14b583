/**
 * Helpers for the Vite plugin tests: both installed Vite majors, a logger that records what Vite prints,
 * a free port (Vite 7 treats port 0 as "use the default"), and what each fixture must show in a browser.
 */
import { createServer } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InlineConfig, Logger } from 'vite'
import { afterAll, beforeAll, expect } from 'vitest'
import { computedStyle, describeVisit, launchBrowser, type Browser, type Visit } from './browser.js'
import { FIXTURES, removeDir } from './sites.js'
import { startStaticServer, type StaticServer } from './static-server.js'

export type ViteApi = typeof import('vite')

/** Vite 8 (Rolldown) is the `vite` package; Vite 7 (Rollup) is installed as the npm alias `vite7`. */
export const VITES: Array<{ name: string; major: 7 | 8; load: () => Promise<ViteApi> }> = [
  { name: 'Vite 8', major: 8, load: () => import('vite') },
  { name: 'Vite 7', major: 7, load: () => import('vite7') as unknown as Promise<ViteApi> },
]

export const SPA = join(FIXTURES, 'vite-spa')
export const MPA = join(FIXTURES, 'vite-mpa')

/** Multi-page input: Vite 8 reads `build.rolldownOptions`, Vite 7 `build.rollupOptions`. */
export function mpaInput(major: 7 | 8): InlineConfig['build'] {
  const input = { home: join(MPA, 'index.html'), about: join(MPA, 'about/index.html') }
  return major === 8 ? { rolldownOptions: { input } } : { rollupOptions: { input } }
}

export interface Recorded {
  logger: Logger
  lines: string[]
  warnings: string[]
}

/** A Vite logger that keeps every line (warnings separately), so tests can read what users would see. */
export function recordingLogger(): Recorded {
  const lines: string[] = []
  const warnings: string[] = []
  const warned = new Set<string>()
  const logger: Logger = {
    hasWarned: false,
    info(msg) {
      lines.push(msg)
    },
    warn(msg) {
      logger.hasWarned = true
      lines.push(msg)
      warnings.push(msg)
    },
    warnOnce(msg) {
      if (warned.has(msg)) return
      warned.add(msg)
      logger.warn(msg)
    },
    error(msg) {
      lines.push(msg)
    },
    clearScreen() {},
    hasErrorLogged: () => false,
  }
  return { logger, lines, warnings }
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `csp-seal-${prefix}-`))
}

/** What a page of a fixture must show: exactly these ids in `window.__ran`, and these computed styles. */
export interface PageExpectation {
  path: string
  ran: string[]
  styles: Array<[selector: string, property: string, value: string]>
}

export const SPA_PAGE: PageExpectation = {
  path: '',
  ran: ['spa:head-inline', 'spa:cdn', 'spa:body-inline', 'spa:importmap', 'spa:main', 'spa:lazy', 'spa:dep', 'spa:lazy2'],
  styles: [
    ['#inline-styled', 'color', 'rgb(10, 20, 30)'],
    ['#main-styled', 'background-color', 'rgb(40, 50, 60)'],
    ['#lazy-styled', 'border-top-color', 'rgb(70, 80, 90)'],
    ['#dep-styled', 'letter-spacing', '3px'],
  ],
}

export const MPA_PAGES: PageExpectation[] = [
  {
    path: '',
    ran: ['mpa:home-inline', 'mpa:shared', 'mpa:home'],
    styles: [
      ['#shared-styled', 'color', 'rgb(11, 22, 33)'],
      ['#home-styled', 'margin-left', '13px'],
    ],
  },
  {
    path: 'about/',
    ran: ['mpa:about-inline', 'mpa:shared', 'mpa:about'],
    styles: [
      ['#shared-styled', 'color', 'rgb(11, 22, 33)'],
      ['#attr-styled', 'padding-left', '5px'],
    ],
  },
]

/** Waits until the page has run every expected script (lazy chunks load after `load`). */
export async function waitForRan(v: Visit, ids: string[], timeout = 5_000): Promise<void> {
  await v.page
    .waitForFunction((want) => want.every((id) => ((window as unknown as { __ran?: string[] }).__ran ?? []).includes(id)), ids, { timeout })
    .catch(() => undefined)
  await v.collect()
}

/** Every script ran (no more, no less), every style applied, nothing was blocked or failed. */
export async function expectWorking(v: Visit, page: PageExpectation): Promise<void> {
  await waitForRan(v, page.ran)
  const info = describeVisit(v)
  expect(v.response?.status(), info).toBe(200)
  expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
  for (const [selector, property, value] of page.styles) {
    expect(await computedStyle(v.page, selector, property), `${page.path || '/'}: ${selector} { ${property} }\n${info}`).toBe(value)
  }
  expect(v.violations, info).toEqual([])
  expect(v.cspConsoleErrors, info).toEqual([])
  expect(v.integrityErrors, info).toEqual([])
  expect(v.pageErrors, info).toEqual([])
  expect(
    v.consoleMessages.filter((m) => m.type === 'error'),
    info,
  ).toEqual([])
  expect(v.failedRequests, info).toEqual([])
  expect(v.badResponses, info).toEqual([])
}

/** The `Content-Security-Policy` meta tag's content in a built page. */
export function metaPolicy(html: string): string {
  const match = /<meta http-equiv="Content-Security-Policy" content="([^"]*)" data-csp-seal>/.exec(html)
  if (!match) throw new Error('no Content-Security-Policy meta tag')
  return match[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&')
}

/**
 * Injects, after load, what an XSS would: an inline script, an inline handler (clicked), a script from the
 * given foreign URL, an inline `<style>` and a `style` attribute. All must be blocked and reported.
 */
export async function expectInjectionsBlocked(v: Visit, foreignScript: string, extra: { nonce?: string } = {}): Promise<void> {
  const before = v.violations.length
  await v.page.evaluate(
    ([foreign, nonce]) => {
      const inline = document.createElement('script')
      inline.textContent = "window.__ran.push('evil:inline')"
      document.body.append(inline)
      const button = document.createElement('button')
      button.setAttribute('onclick', "window.__ran.push('evil:handler')")
      document.body.append(button)
      button.click()
      const remote = document.createElement('script')
      remote.src = foreign!
      document.body.append(remote)
      const style = document.createElement('style')
      style.textContent = '#evil-styled { color: rgb(255, 0, 1) }'
      document.head.append(style)
      const styled = document.createElement('p')
      styled.id = 'evil-styled'
      document.body.append(styled)
      const attr = document.createElement('p')
      attr.id = 'evil-attr'
      attr.setAttribute('style', 'color: rgb(255, 0, 2)')
      document.body.append(attr)
      if (nonce) {
        // A nonce seen in an earlier response, replayed.
        const replay = document.createElement('script')
        replay.setAttribute('nonce', nonce)
        replay.textContent = "window.__ran.push('evil:replayed-nonce')"
        document.body.append(replay)
      }
    },
    [foreignScript, extra.nonce] as const,
  )
  const expected = 5 + (extra.nonce ? 1 : 0)
  // Violation events arrive as tasks: wait for all of them (the test's hang guard stops a wait that never ends).
  await v.page.waitForFunction((n) => ((window as unknown as { __cspViolations?: unknown[] }).__cspViolations ?? []).length >= n, before + expected, {
    timeout: 0,
  })
  await v.page.waitForTimeout(100)
  await v.collect()
  const info = describeVisit(v)
  expect(
    v.ran.filter((id) => id.startsWith('evil:')),
    info,
  ).toEqual([])
  expect(await computedStyle(v.page, '#evil-styled', 'color'), info).not.toBe('rgb(255, 0, 1)')
  expect(await computedStyle(v.page, '#evil-attr', 'color'), info).not.toBe('rgb(255, 0, 2)')
  // A page served with both a header and a meta policy reports each block once per policy.
  const events = v.violations.slice(before)
  const seen = events.map((x) => `${x.effectiveDirective} ${x.blockedURI}`)
  expect(seen, info).toEqual(
    expect.arrayContaining([
      'script-src-elem inline',
      'script-src-attr inline',
      `script-src-elem ${foreignScript}`,
      'style-src-elem inline',
      'style-src-attr inline',
    ]),
  )
  expect(new Set(events.map((x) => `${x.effectiveDirective} ${x.blockedURI} ${x.lineNumber}:${x.columnNumber}`)).size, info).toBe(expected)
}

/**
 * What the Vite test files share: one Chromium, the second local origin serving the SPA fixture's CDN files, and a
 * temp folder (created at once: test options are computed while tests are collected) removed after the file.
 */
export function useViteHarness(name: string) {
  const harness = {} as { browser: Browser; cdn: StaticServer }
  const work = mkdtempSync(join(tmpdir(), `csp-seal-vite-${name}-`))
  beforeAll(async () => {
    harness.browser = await launchBrowser()
    harness.cdn = await startStaticServer(join(SPA, 'cdn'), { cors: true })
  })
  afterAll(async () => {
    await harness.browser?.close()
    await harness.cdn?.close()
    await removeDir(work)
  })
  return { harness, work }
}
