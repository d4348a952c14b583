/**
 * The server runtime in Chromium, Firefox and WebKit: the sealed example site and a page that injects styles and
 * scripts at run time with the csp-nonce meta, served on 127.0.0.1 by the Node middleware, by the fetch handler and
 * by `csp-seal serve`. Every page works with zero violations; nonce attributes are hidden from the page; nonces are
 * never shared; guessed, replayed and copied nonces run nothing; a file tampered with on disk falls back to the
 * hash-only page.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory, type Manifest } from '../src/index.js'
import { createHandler, createMiddleware, generateNonce, type ServerOptions } from '../src/server/index.js'
import { readExpected } from './support/browser.js'
import { expectNonced, expectWorking, noncesOf } from './support/engines/checks.js'
import { forEachEngine } from './support/engines/index.js'
import { startReportingProxy, type ReportingProxy } from './support/engines/reporting-proxy.js'
import { supportTable } from './support/engines/support-table.js'
import { visit, type PageVisit } from './support/engines/visit.js'
import { startFetchServer } from './support/fetch-server.js'
import { copyFixture, FIXTURES, removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const siteExpected = readExpected(`${FIXTURES}example-site`)
const appExpected = readExpected(`${FIXTURES}nonce-app`).pages[0]!
const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const table = supportTable('test/server-browser.test.ts')

let site: string // the sealed example site (inline event handlers allowed by hash, so every page runs clean)
let app: string // the sealed nonce-app fixture
let attacker: StaticServer // another origin, serving the attacker's script
const cleanup: Array<() => Promise<void>> = []
const RUNTIMES = ['Node middleware', 'fetch handler'] as const
const serveBy = (runtime: (typeof RUNTIMES)[number], options: ServerOptions) =>
  runtime === 'Node middleware' ? middlewareServer(options) : fetchHandlerServer(options)
// Each served by each runtime, behind a reporting proxy.
const siteBy = new Map<string, ReportingProxy>()
const appBy = new Map<string, ReportingProxy>()
let hashOnlyApp: ReportingProxy
let reportedSite: ReportingProxy
// A stored or reflected injection: the attacker's markup lands in the page after the runtime added the nonce.
let inject: ((html: string) => string) | undefined
let injectable: string // the fetch handler that injects it
let injectableFront: ReportingProxy

beforeAll(async () => {
  site = await copyFixture('example-site')
  app = await copyFixture('nonce-app')
  cleanup.push(
    () => removeDir(site),
    () => removeDir(app),
  )
  await sealDirectory(site, { eventHandlers: 'hash' })
  await sealDirectory(app, {})
  attacker = await startStaticServer(app, { cors: true, rewrite: () => "(window.__ran = window.__ran || []).push('attack:foreign-script')" })
  cleanup.push(() => attacker.close())
  for (const runtime of RUNTIMES) {
    siteBy.set(runtime, await front(await serveBy(runtime, { root: site })))
    appBy.set(runtime, await front(await serveBy(runtime, { root: app })))
  }
  hashOnlyApp = await front(await middlewareServer({ root: app, nonce: false }))
  const reported = await copyFixture('example-site')
  cleanup.push(() => removeDir(reported))
  await sealDirectory(reported, {})
  reportedSite = await front(await middlewareServer({ root: reported }))
  // Uncompressed, so the injection can edit the body (a server-side injection lands before compression).
  const server = await startFetchServer(createHandler({ root: site, compress: false }), async (path, response) => {
    if (!inject || path !== '/index.html') return response
    const html = await response.text()
    const end = html.lastIndexOf('</body>')
    return new Response(html.slice(0, end) + inject(html) + html.slice(end), { status: response.status, headers: response.headers })
  })
  cleanup.push(() => server.close())
  injectable = server.origin
  injectableFront = await front(injectable)
})
afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo()
})

/** A reporting proxy in front of a server: what the browser loads (see support/engines/reporting-proxy.ts). */
async function front(origin: string): Promise<ReportingProxy> {
  const proxy = await startReportingProxy(origin)
  cleanup.push(() => proxy.close())
  return proxy
}

async function fetchHandlerServer(options: ServerOptions): Promise<string> {
  const server = await startFetchServer(createHandler(options))
  cleanup.push(() => server.close())
  return server.origin
}

async function middlewareServer(options: ServerOptions): Promise<string> {
  const handle = createMiddleware(options)
  const server: Server = createServer((req, res) => handle(req, res))
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

forEachEngine((engine) => {
  for (const runtime of RUNTIMES) {
    describe(`the example site through the ${runtime}, nonces on`, () => {
      const allPages = runtime === 'fetch handler' ? table.recordAfter(siteExpected.pages.length, 'nonce-runtime', 'yes') : () => undefined
      for (const page of siteExpected.pages) {
        it(`${page.path}: zero violations, every script ran, every style applied, one nonce everywhere`, async () => {
          const v = await visit(engine(), siteBy.get(runtime)!, `/${page.path}`)
          try {
            await expectWorking(v, page)
            await expectNonced(v)
            allPages(engine())
          } finally {
            await v.close()
          }
        })
      }
    })
  }

  describe('a page that injects styles and scripts at run time with the csp-nonce meta', () => {
    for (const runtime of RUNTIMES) {
      it(`works through the ${runtime} with zero violations, and its nonce attributes are hidden`, async () => {
        const v = await visit(engine(), appBy.get(runtime)!, '/index.html')
        try {
          await expectWorking(v, appExpected)
          const nonce = await expectNonced(v)
          // Nonce hiding: the attribute reads empty once the element is in the document; the property keeps the value.
          // Served with one: the csp-nonce meta, the stylesheet link, the <style> and the <script src> of the page.
          const seen = await v.evaluate(() =>
            Array.from(document.querySelectorAll('[nonce]')).map((e) => [e.localName, e.getAttribute('nonce'), (e as HTMLElement).nonce]),
          )
          expect(seen.map(([tag]) => tag).sort(), v.describe()).toEqual(['link', 'meta', 'script', 'style'])
          expect(seen, v.describe()).toEqual(seen.map(([tag]) => [tag, '', nonce]))
          table.record(engine(), 'nonce-hidden', 'yes')
        } finally {
          await v.close()
        }
      })
    }

    it('is blocked without the runtime (hash-only serving): the nonce is what makes it work', async () => {
      const v = await visit(engine(), hashOnlyApp, '/index.html')
      try {
        await v.waitForRan(['assets/inject.js', 'assets/chunk.js', 'nonce-app:inline'])
        await v.waitForBlocked(['script-src-elem inline', 'style-src-elem inline'])
        expect(v.ran, v.describe()).not.toContain('nonce-app:runtime-inline')
        expect(await v.style('#runtime-style', 'color')).not.toBe('rgb(7, 8, 9)')
        expect(v.blocked, v.describe()).toEqual(['script-src-elem inline', 'style-src-elem inline'])
      } finally {
        await v.close()
      }
    })
  })

  describe('attacks on nonced pages', () => {
    const indexPage = siteExpected.pages.find((p) => p.path === 'index.html')!
    const payload = (nonce: string, tag: string) =>
      `<script nonce="${nonce}">(window.__ran = window.__ran || []).push('attack:${tag}')</script>` +
      `<style nonce="${nonce}">#hero-title { color: rgb(255, 0, 0) }</style>`
    const attacks = table.recordAfter(4, 'nonce-attacks', 'blocked')

    async function attacked(payloadFor: (html: string) => string): Promise<PageVisit> {
      inject = payloadFor
      try {
        return await visit(engine(), injectableFront, '/index.html')
      } finally {
        inject = undefined
      }
    }

    async function expectBlocked(v: PageVisit) {
      await v.waitForRan(indexPage.ran)
      await v.waitForBlocked(['script-src-elem inline', 'style-src-elem inline'])
      const info = v.describe()
      expect(
        v.ran.filter((id) => id.startsWith('attack:')),
        info,
      ).toEqual([])
      expect([...v.ran].sort(), info).toEqual([...indexPage.ran].sort())
      expect(await v.style('#hero-title', 'color')).toBe('rgb(11, 12, 13)')
    }

    it('two loads of the same page never share a nonce', async () => {
      const seen: string[] = []
      for (let i = 0; i < 3; i++) {
        const v = await visit(engine(), injectableFront, '/index.html')
        try {
          const { fromMeta, fromHeader } = await noncesOf(v)
          expect(fromHeader).toEqual([fromMeta, fromMeta])
          seen.push(fromMeta!)
        } finally {
          await v.close()
        }
      }
      expect(new Set(seen).size).toBe(3)
      attacks(engine())
    })

    it('control: markup carrying the nonce of the very same response runs (so the blocks below are real)', async () => {
      const v = await attacked((html) => {
        const nonce = /nonce="([^"]+)"/.exec(html)![1]!
        return payload(nonce, 'same-response') + `<script nonce="${nonce}" src="${attacker.origin}/assets/chunk.js"></script>`
      })
      try {
        await v.waitForRan(['attack:same-response', 'attack:foreign-script'])
        expect(await v.style('#hero-title', 'color')).toBe('rgb(255, 0, 0)')
      } finally {
        await v.close()
      }
    })

    it('a guessed nonce runs nothing', async () => {
      for (const guess of ['AAAAAAAAAAAAAAAAAAAAAA==', generateNonce()]) {
        const v = await attacked(() => payload(guess, 'guessed'))
        try {
          await expectBlocked(v)
        } finally {
          await v.close()
        }
      }
      attacks(engine())
    })

    it('a nonce replayed from an earlier response runs nothing', async () => {
      const earlier = await fetch(`${injectable}/index.html`)
      const replayed = /'nonce-([^']+)'/.exec(earlier.headers.get('content-security-policy')!)![1]!
      expect(await earlier.text()).toContain(`nonce="${replayed}"`)
      const v = await attacked(() => payload(replayed, 'replayed'))
      try {
        await expectBlocked(v)
      } finally {
        await v.close()
      }
      attacks(engine())
    })

    it('a <script nonce=…> tag copied from served HTML runs nothing, inline or pointed at another origin', async () => {
      const served = await (await fetch(`${injectable}/index.html`)).text()
      const copied = /<script nonce="[^"]+" src="assets\/app\.js[^"]*"[^>]*><\/script>/.exec(served)![0]
      const retargeted = copied.replace(/src="[^"]+"/, `src="${attacker.origin}/assets/chunk.js"`).replace(/ integrity="[^"]+"/, '')
      const inline = copied
        .replace(/ src="[^"]+"/, '')
        .replace(/ integrity="[^"]+"/, '')
        .replace('></script>', ">(window.__ran = window.__ran || []).push('attack:copied-inline')</script>")
      const v = await attacked(() => retargeted + inline + `<style${/ nonce="[^"]+"/.exec(copied)![0]}>#hero-title { color: rgb(255, 0, 0) }</style>`)
      try {
        await v.waitForBlocked([`script-src-elem ${attacker.origin}/assets/chunk.js`])
        await expectBlocked(v)
      } finally {
        await v.close()
      }
      attacks(engine())
    })
  })

  describe('inline event handlers, reported (the default) rather than hashed', () => {
    it('stay blocked under the nonced policy, and nothing else is', async () => {
      const page = siteExpected.pages.find((p) => p.path === 'interactive.html')!
      const v = await visit(engine(), reportedSite, '/interactive.html')
      try {
        await v.waitForRan(page.ran)
        await v.evaluate(() => document.getElementById('copy-btn')!.click())
        await v.waitForReports(1)
        const info = v.describe()
        expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
        expect(v.blocked, info).toEqual(['script-src-attr inline'])
        await expectNonced(v)
      } finally {
        await v.close()
      }
    })
  })

  describe('a page tampered with on disk', () => {
    it('is served hash-only with the manifest headers: its unchanged parts work, the change is blocked, logged once', async () => {
      const tamperedSite = await copyFixture('example-site')
      cleanup.push(() => removeDir(tamperedSite))
      await sealDirectory(tamperedSite, {})
      const manifest = JSON.parse(await readFile(join(tamperedSite, 'csp-seal.json'), 'utf8')) as Manifest
      const file = join(tamperedSite, 'index.html')
      await writeFile(file, (await readFile(file, 'utf8')).replace("push('index:body-inline')", "push('index:tampered')"))
      const logs: string[] = []
      const proxy = await front(await middlewareServer({ root: tamperedSite, log: (m) => logs.push(m) }))
      const page = siteExpected.pages.find((p) => p.path === 'index.html')!
      for (let i = 0; i < 2; i++) {
        const v = await visit(engine(), proxy, '/index.html')
        try {
          await v.waitForRan(page.ran.filter((id) => id !== 'index:body-inline'))
          await v.waitForBlocked(['script-src-elem inline'])
          const info = v.describe()
          expect(v.response!.headers['content-security-policy']).toBe(manifest.pages['index.html']!.headers['Content-Security-Policy'])
          expect((await noncesOf(v)).fromMeta).toBeNull()
          expect((await noncesOf(v)).policyMetas).toBe(1)
          expect([...v.ran].sort(), info).toEqual(page.ran.filter((id) => id !== 'index:body-inline').sort())
          for (const [selector, property, value] of page.styles) expect(await v.style(selector, property)).toBe(value)
          expect(v.blocked, info).toEqual(['script-src-elem inline'])
        } finally {
          await v.close()
        }
      }
      expect(logs).toHaveLength(1)
      expect(logs[0]).toMatch(/^csp-seal: index\.html does not match the digest in the manifest/)
      table.record(engine(), 'hash-only-fallback', 'yes')
    })
  })

  describe('csp-seal serve', () => {
    it('--nonce: serves the sealed folder on 127.0.0.1 with a fresh nonce per page, and stops cleanly', async () => {
      const { child, url, output } = await serve([app, '--port', '0', '--nonce'])
      expect(output()).toMatch(/nonces\s+on/)
      const v = await visit(engine(), await front(new URL(url).origin), '/index.html')
      try {
        await expectWorking(v, appExpected)
        await expectNonced(v)
      } finally {
        await v.close()
      }
      child.kill('SIGTERM')
      expect(await exitCode(child)).toBe(0)
    })

    it('without --nonce (the CLI default) serves the hash-only pages with the manifest headers', async () => {
      const { child, url, output } = await serve([site, '--port', '0'])
      expect(output()).toMatch(/nonces\s+off/)
      const manifest = JSON.parse(await readFile(join(site, 'csp-seal.json'), 'utf8')) as Manifest
      const v = await visit(engine(), await front(new URL(url).origin), '/features.html')
      try {
        await expectWorking(
          v,
          siteExpected.pages.find((p) => p.path === 'features.html')!,
        )
        expect(v.response!.headers['content-security-policy']).toBe(manifest.pages['features.html']!.policy)
      } finally {
        await v.close()
      }
      child.kill('SIGINT')
      expect(await exitCode(child)).toBe(0)
    })
  })
})

async function serve(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn('node', [BIN, 'serve', ...args], { env: { ...process.env, NO_COLOR: '1' } })
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      const found = /http:\/\/127\.0\.0\.1:\d+\/\S*/.exec(output)
      if (found) resolve(found[0])
    })
    child.once('exit', (code) => reject(new Error(`csp-seal serve exited with ${code}:\n${output}`)))
  })
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  return { child, url, output: () => output }
}
const exitCode = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)))

describe('csp-seal serve', () => {
  it('refuses a folder that was never sealed, and a bad port', async () => {
    const unsealed = await copyFixture('nonce-app')
    cleanup.push(() => removeDir(unsealed))
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn('node', [BIN, 'serve', ...args], { env: { ...process.env, NO_COLOR: '1' } })
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
        child.once('exit', (code) => resolve({ code, stderr }))
      })
    const missing = await run([unsealed, '--port', '0'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/csp-seal\.json does not exist: seal the site first/)
    const badPort = await run([site, '--port', 'http'])
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toMatch(/--port must be a number/)
  })
})

table.declareCheck()
