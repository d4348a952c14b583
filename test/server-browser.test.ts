/**
 * The server runtime in real Chromium: the sealed example site and a page that injects styles and scripts at
 * run time with the csp-nonce meta, served on 127.0.0.1 by the Node middleware, by the fetch handler and by
 * `csp-seal serve`. Every page works with zero violations; nonces are never shared; guessed, replayed and
 * copied nonces run nothing; a file tampered with on disk falls back to the hash-only page.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory, type Manifest } from '../src/index.js'
import { createHandler, createMiddleware, generateNonce, type ServerOptions } from '../src/server/index.js'
import { computedStyle, describeVisit, launchBrowser, readExpected, visit, type Browser, type Visit } from './support/browser.js'
import { expectNonced, expectWorking, noncesOf } from './support/expect-page.js'
import { startFetchServer } from './support/fetch-server.js'
import { copyFixture, FIXTURES, removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const siteExpected = readExpected(`${FIXTURES}example-site`)
const appExpected = readExpected(`${FIXTURES}nonce-app`).pages[0]!
const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname

let browser: Browser
let site: string // the sealed example site (inline event handlers allowed by hash, so every page runs clean)
let app: string // the sealed nonce-app fixture
let attacker: StaticServer // another origin, serving the attacker's script
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  browser = await launchBrowser()
  site = await copyFixture('example-site')
  app = await copyFixture('nonce-app')
  cleanup.push(() => removeDir(site), () => removeDir(app))
  await sealDirectory(site, { eventHandlers: 'hash' })
  await sealDirectory(app, {})
  attacker = await startStaticServer(app, { cors: true, rewrite: () => "(window.__ran = window.__ran || []).push('attack:foreign-script')" })
  cleanup.push(() => attacker.close())
})
afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo()
  await browser?.close()
})

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

for (const runtime of ['Node middleware', 'fetch handler'] as const) {
  describe(`the example site through the ${runtime}, nonces on`, () => {
    let origin: string
    beforeAll(async () => {
      if (runtime === 'Node middleware') origin = await middlewareServer({ root: site })
      else {
        const server = await startFetchServer(createHandler({ root: site }))
        cleanup.push(() => server.close())
        origin = server.origin
      }
    })

    for (const page of siteExpected.pages) {
      it(`${page.path}: zero violations, every script ran, every style applied, one nonce everywhere`, async () => {
        const v = await visit(browser, `${origin}/${page.path}`)
        try {
          await expectWorking(v, page)
          await expectNonced(v)
        } finally {
          await v.close()
        }
      })
    }
  })
}

describe('a page that injects styles and scripts at run time with the csp-nonce meta', () => {
  for (const runtime of ['Node middleware', 'fetch handler'] as const) {
    it(`works through the ${runtime} with zero violations`, async () => {
      let origin: string
      if (runtime === 'Node middleware') origin = await middlewareServer({ root: app })
      else {
        const server = await startFetchServer(createHandler({ root: app }))
        cleanup.push(() => server.close())
        origin = server.origin
      }
      const v = await visit(browser, `${origin}/index.html`)
      try {
        await expectWorking(v, appExpected)
        await expectNonced(v)
      } finally {
        await v.close()
      }
    })
  }

  it('is blocked without the runtime (hash-only serving): the nonce is what makes it work', async () => {
    const origin = await middlewareServer({ root: app, nonce: false })
    const v = await visit(browser, `${origin}/index.html`)
    try {
      const info = describeVisit(v)
      expect(v.ran, info).not.toContain('nonce-app:runtime-inline')
      expect(await computedStyle(v.page, '#runtime-style', 'color')).not.toBe('rgb(7, 8, 9)')
      // Hash-only pages carry the policy twice (header and meta), so Chromium reports each block once per policy.
      expect([...new Set(v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`))].sort(), info).toEqual(['script-src-elem inline', 'style-src-elem inline'])
    } finally {
      await v.close()
    }
  })
})

describe('attacks on nonced pages', () => {
  // A stored or reflected injection: the attacker's markup lands in the page after the runtime added the nonce.
  let inject: ((html: string) => string) | undefined
  let origin: string
  beforeAll(async () => {
    // Uncompressed, so the injection can edit the body (a server-side injection lands before compression).
    const server = await startFetchServer(createHandler({ root: site, compress: false }), async (path, response) => {
      if (!inject || path !== '/index.html') return response
      const html = await response.text()
      const end = html.lastIndexOf('</body>')
      return new Response(html.slice(0, end) + inject(html) + html.slice(end), { status: response.status, headers: response.headers })
    })
    cleanup.push(() => server.close())
    origin = server.origin
  })
  const indexPage = siteExpected.pages.find((p) => p.path === 'index.html')!
  const payload = (nonce: string, tag: string) =>
    `<script nonce="${nonce}">(window.__ran = window.__ran || []).push('attack:${tag}')</script>` +
    `<style nonce="${nonce}">#hero-title { color: rgb(255, 0, 0) }</style>`

  async function attacked(payloadFor: (html: string) => string) {
    inject = payloadFor
    try {
      return await visit(browser, `${origin}/index.html`)
    } finally {
      inject = undefined
    }
  }

  async function expectBlocked(v: Visit) {
    const info = describeVisit(v)
    expect(v.ran.filter((id) => id.startsWith('attack:')), info).toEqual([])
    expect([...v.ran].sort(), info).toEqual([...indexPage.ran].sort())
    expect(await computedStyle(v.page, '#hero-title', 'color')).toBe('rgb(11, 12, 13)')
    expect(v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`), info).toEqual(expect.arrayContaining(['script-src-elem inline', 'style-src-elem inline']))
  }

  it('two loads of the same page never share a nonce', async () => {
    const seen: string[] = []
    for (let i = 0; i < 3; i++) {
      const v = await visit(browser, `${origin}/index.html`)
      try {
        const { fromMeta, fromHeader } = await noncesOf(v)
        expect(fromHeader).toEqual([fromMeta, fromMeta])
        seen.push(fromMeta!)
      } finally {
        await v.close()
      }
    }
    expect(new Set(seen).size).toBe(3)
  })

  it('control: markup carrying the nonce of the very same response runs (so the blocks below are real)', async () => {
    const v = await attacked((html) => {
      const nonce = /nonce="([^"]+)"/.exec(html)![1]!
      return payload(nonce, 'same-response') + `<script nonce="${nonce}" src="${attacker.origin}/assets/chunk.js"></script>`
    })
    try {
      expect(v.ran).toContain('attack:same-response')
      expect(v.ran).toContain('attack:foreign-script')
      expect(await computedStyle(v.page, '#hero-title', 'color')).toBe('rgb(255, 0, 0)')
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
  })

  it('a nonce replayed from an earlier response runs nothing', async () => {
    const earlier = await fetch(`${origin}/index.html`)
    const replayed = /'nonce-([^']+)'/.exec(earlier.headers.get('content-security-policy')!)![1]!
    expect(await earlier.text()).toContain(`nonce="${replayed}"`)
    const v = await attacked(() => payload(replayed, 'replayed'))
    try {
      await expectBlocked(v)
    } finally {
      await v.close()
    }
  })

  it('a <script nonce=…> tag copied from served HTML runs nothing, inline or pointed at another origin', async () => {
    const served = await (await fetch(`${origin}/index.html`)).text()
    const copied = /<script nonce="[^"]+" src="assets\/app\.js[^"]*"[^>]*><\/script>/.exec(served)![0]
    const retargeted = copied.replace(/src="[^"]+"/, `src="${attacker.origin}/assets/chunk.js"`).replace(/ integrity="[^"]+"/, '')
    const inline = copied.replace(/ src="[^"]+"/, '').replace(/ integrity="[^"]+"/, '').replace('></script>', ">(window.__ran = window.__ran || []).push('attack:copied-inline')</script>")
    const v = await attacked(() => retargeted + inline + `<style${/ nonce="[^"]+"/.exec(copied)![0]}>#hero-title { color: rgb(255, 0, 0) }</style>`)
    try {
      await expectBlocked(v)
      expect(v.violations.map((x) => x.blockedURI), describeVisit(v)).toContain(`${attacker.origin}/assets/chunk.js`)
    } finally {
      await v.close()
    }
  })
})

describe('inline event handlers, reported (the default) rather than hashed', () => {
  it('stay blocked under the nonced policy, and nothing else is', async () => {
    const reportedSite = await copyFixture('example-site')
    cleanup.push(() => removeDir(reportedSite))
    await sealDirectory(reportedSite, {})
    const origin = await middlewareServer({ root: reportedSite })
    const page = siteExpected.pages.find((p) => p.path === 'interactive.html')!
    const v = await visit(browser, `${origin}/interactive.html`)
    try {
      const info = describeVisit(v)
      expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
      expect(v.violations.map((x) => x.effectiveDirective), info).toEqual(['script-src-attr', 'script-src-attr', 'script-src-attr'])
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
    const origin = await middlewareServer({ root: tamperedSite, log: (m) => logs.push(m) })
    const page = siteExpected.pages.find((p) => p.path === 'index.html')!
    for (let i = 0; i < 2; i++) {
      const v = await visit(browser, `${origin}/index.html`)
      try {
        const info = describeVisit(v)
        expect(v.response!.headers()['content-security-policy']).toBe(manifest.pages['index.html']!.headers['Content-Security-Policy'])
        expect((await noncesOf(v)).fromMeta).toBeNull()
        expect((await noncesOf(v)).policyMetas).toBe(1)
        expect([...v.ran].sort(), info).toEqual(page.ran.filter((id) => id !== 'index:body-inline').sort())
        for (const [selector, property, value] of page.styles) expect(await computedStyle(v.page, selector, property)).toBe(value)
        expect([...new Set(v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`))], info).toEqual(['script-src-elem inline'])
      } finally {
        await v.close()
      }
    }
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatch(/^csp-seal: index\.html does not match the digest in the manifest/)
  })
})

describe('csp-seal serve', () => {
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
  const exitCode = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)))

  it('--nonce: serves the sealed folder on 127.0.0.1 with a fresh nonce per page, and stops cleanly', async () => {
    const { child, url, output } = await serve([app, '--port', '0', '--nonce'])
    expect(output()).toMatch(/nonces\s+on/)
    const v = await visit(browser, `${url}index.html`)
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
    const v = await visit(browser, `${url}features.html`)
    try {
      await expectWorking(v, siteExpected.pages.find((p) => p.path === 'features.html')!)
      expect(v.response!.headers()['content-security-policy']).toBe(manifest.pages['features.html']!.policy)
    } finally {
      await v.close()
    }
    child.kill('SIGINT')
    expect(await exitCode(child)).toBe(0)
  })

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
