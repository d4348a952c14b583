/**
 * `visit()` (test/support/browser.ts) lends a browser's tab to one visit after another: each visit must start as a
 * first visit would, or a sealed page could pass on what an earlier page left behind. A page that stores state every
 * way a framework does, loads a cacheable script and breaks its own policy is visited three times in one tab: each
 * later visit finds nothing of the one before, fetches the script again, and reports only its own violation; the site
 * sees no request but the visits' own.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { launchBrowser, visit, type Browser, type Visit } from './support/browser.js'

const PAGE = `<!doctype html>
<meta http-equiv="Content-Security-Policy" content="script-src 'self'; style-src 'none'">
<link rel="icon" href="data:,">
<script src="/state.js"></script>
<style>p { color: red }</style>
<p>visited</p>`

// Reads what an earlier visit could have left, then leaves all of it for the next one.
const STATE = `window.found = {
  local: localStorage.getItem('k'),
  session: sessionStorage.getItem('k'),
  cookie: document.cookie,
  name: window.name,
  history: history.length,
  referrer: document.referrer,
};
localStorage.setItem('k', 'v'); sessionStorage.setItem('k', 'v'); document.cookie = 'k=v; max-age=3600'; window.name = 'k';`

let browser: Browser
let server: Server
let origin: string
const requests: string[] = []

beforeAll(async () => {
  browser = await launchBrowser()
  server = createServer((req, res) => {
    requests.push(req.url!)
    if (req.url === '/state.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'max-age=3600' }).end(STATE)
    } else if (req.url === '/favicon.ico') res.writeHead(404).end()
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await browser?.close()
  server?.close()
})

it('every visit in a tab visit() lends again starts as a first visit in a fresh context does: no storage, cookie, window name, history, referrer or cached response of the one before', async () => {
  const found = async (v: Visit) => {
    expect(v.violations.map((x) => x.effectiveDirective)).toEqual(['style-src-elem'])
    expect(v.badResponses).toEqual([])
    const state = await v.page.evaluate(() => (window as unknown as { found: unknown }).found)
    await v.close()
    return state
  }
  const fresh = await visit(browser, `${origin}/fresh`)
  const firstTab = fresh.page
  const firstVisit = await found(fresh)
  expect(firstVisit).toMatchObject({ local: null, session: null, cookie: '', name: '' })
  for (const path of ['/first', '/second']) {
    const v = await visit(browser, origin + path)
    expect(v.page, 'the tab of the first visit').toBe(firstTab)
    expect(await found(v), path).toEqual(firstVisit)
  }
  // Every visit fetched its script again, and nothing else of the harness's own reached the site.
  expect(requests).toEqual(['/fresh', '/state.js', '/first', '/state.js', '/second', '/state.js'])
})
