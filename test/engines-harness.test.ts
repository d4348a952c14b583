/**
 * The three-engine harness itself: every engine reports the violations of a page through the reporting proxy,
 * with a meta policy and with a header policy, including violations after load; running the harness's own code
 * in the page reports nothing; where an engine also records `securitypolicyviolation` events, they agree with the
 * reports.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forEachEngine } from './support/engines/index.js'
import { metaPolicies, startReportingProxy, withReportUri, type ReportingProxy } from './support/engines/reporting-proxy.js'
import { supportTable } from './support/engines/support-table.js'
import { visit } from './support/engines/visit.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const table = supportTable('test/engines-harness.test.ts')
const push = (id: string) => `(window.__ran = window.__ran || []).push('${id}')`
let dir: string
let metaSite: StaticServer
let headerSite: StaticServer
let foreign: StaticServer
let metaProxy: ReportingProxy
let headerProxy: ReportingProxy

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'csp-seal-engines-'))
  await writeFile(join(dir, 'ok.js'), push('ok.js'))
  await writeFile(
    join(dir, 'late.js'),
    `${push('late.js')}; addEventListener('load', () => setTimeout(() => { const s = document.createElement('script'); s.textContent = "${push('late-inline')}"; document.body.append(s); ${push('late-done')} }))`,
  )
  foreign = await startStaticServer(dir)
  const body = (policyMeta: string) => `<!doctype html><html><head><meta charset="utf-8">${policyMeta}<title>t</title>
<script>${push('blocked-inline')}</script>
<script src="ok.js"></script>
<script src="${foreign.origin}/ok.js"></script>
</head><body><p id="p" style="color: rgb(255, 0, 0)">p</p></body></html>`
  await writeFile(join(dir, 'meta.html'), body(`<meta http-equiv="Content-Security-Policy" content="script-src 'self'; style-src 'self'">`))
  await writeFile(join(dir, 'header.html'), body(''))
  await writeFile(join(dir, 'late.html'), `<!doctype html><meta charset="utf-8"><title>late</title><script src="late.js"></script>`)
  // Shows the cookies it finds, then sets one that would last ten minutes.
  await writeFile(join(dir, 'cookie.js'), `${push("cookie:' + document.cookie + '")}; document.cookie = 'seen=1; max-age=600'`)
  await writeFile(join(dir, 'cookie.html'), `<!doctype html><meta charset="utf-8"><title>cookie</title><script src="cookie.js"></script>`)
  // cookie.js may be cached for ten minutes: a visit that gets it from the server again has no cache of the one before.
  metaSite = await startStaticServer(dir, { headers: (path) => (path === '/cookie.js' ? { 'Cache-Control': 'max-age=600' } : {}) })
  headerSite = await startStaticServer(dir, {
    headers: (path) => (path.endsWith('.html') ? { 'Content-Security-Policy': "script-src 'self'; style-src 'self'; report-to old-group" } : {}),
  })
  metaProxy = await startReportingProxy(metaSite.origin)
  headerProxy = await startReportingProxy(headerSite.origin)
})
afterAll(async () => {
  for (const server of [metaProxy, headerProxy, metaSite, headerSite, foreign]) await server?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('the reporting proxy', () => {
  it('adds report-uri to each policy of a header and drops report-uri/report-to that would send reports elsewhere', () => {
    expect(withReportUri("script-src 'self'; report-to g; img-src *", '/r')).toBe("script-src 'self'; img-src *; report-uri /r")
    expect(withReportUri("default-src 'none'; report-uri https://x.example/r;, script-src 'self'", '/r')).toBe(
      "default-src 'none'; report-uri /r, script-src 'self'; report-uri /r",
    )
  })
  it('mirrors the policy metas a browser applies: children of <head>, not report-only, not in <body>', () => {
    const html = `<!doctype html><head><meta http-equiv="content-security-policy" content="script-src 'none'"><meta http-equiv="Content-Security-Policy-Report-Only" content="img-src 'none'"></head><body><meta http-equiv="Content-Security-Policy" content="style-src 'none'">`
    expect(metaPolicies(html)).toEqual(["script-src 'none'"])
    expect(metaPolicies('<meta http-equiv=Content-Security-Policy content="a &amp; b"><p>')).toEqual(['a & b'])
  })
})

forEachEngine((engine, name) => {
  const blocked = () => ['script-src-elem inline', `script-src-elem ${foreign.origin}/ok.js`, 'style-src-attr inline'].sort()
  const summary = (events: { effectiveDirective: string; blockedURI: string }[]) =>
    [...new Set(events.map((r) => `${r.effectiveDirective} ${r.blockedURI}`))].sort()

  const bothPolicies = table.recordAfter(2, 'report-uri', 'yes')
  for (const kind of ['meta', 'header'] as const) {
    it(`reports what a ${kind} policy blocks, and nothing for the harness's own scripts`, async () => {
      const proxy = kind === 'meta' ? metaProxy : headerProxy
      const v = await visit(engine(), proxy, `/${kind}.html`)
      try {
        expect(v.ran, v.describe()).toEqual(['ok.js'])
        expect(await v.style('#p', 'color')).not.toBe('rgb(255, 0, 0)')
        expect(v.blocked, v.describe()).toEqual(blocked())
        // Running code in the page through the driver, and the barrier's image, are not violations.
        const reports = v.reports.length
        await v.evaluate(() => document.title)
        await v.settle()
        expect(v.reports, v.describe()).toHaveLength(reports)
        if (v.events) expect(summary(v.events), v.describe()).toEqual(v.blocked)
        else expect(name).toBe('webkit')
        if (kind === 'header') {
          expect(v.response?.headers['content-security-policy']).toBe("script-src 'self'; style-src 'self'; report-to old-group")
          expect(v.reports.every((r) => r.originalPolicy.includes("script-src 'self'"))).toBe(true)
        }
        bothPolicies(engine())
      } finally {
        await v.close()
      }
    })
  }

  it(`starts every visit without the cookies of the one before${name === 'webkit' ? '' : ', every file from the server'}`, async () => {
    for (let i = 0; i < 2; i++) {
      const v = await visit(engine(), metaProxy, '/cookie.html')
      try {
        await v.waitForRan(['cookie:'])
        expect(v.ran, v.describe()).toEqual(['cookie:'])
        expect(await v.evaluate(() => document.cookie)).toBe('seen=1')
        // WebDriver classic cannot turn WebKit's HTTP cache off.
        if (name !== 'webkit') expect(v.responses.map((r) => r.path)).toContain('/cookie.js')
      } finally {
        await v.close()
      }
    }
  })

  it('counts a violation that happens after load, once the page did it, in its own visit only', async () => {
    for (let i = 0; i < 2; i++) {
      const v = await visit(engine(), headerProxy, '/late.html')
      try {
        await v.waitForRan(['late.js', 'late-done'])
        expect(v.ran).toEqual(['late.js', 'late-done'])
        expect(
          v.reports.map((r) => `${r.effectiveDirective} ${r.blockedURI}`),
          v.describe(),
        ).toEqual(['script-src-elem inline'])
      } finally {
        await v.close()
      }
    }
  })
})

table.declareCheck()
