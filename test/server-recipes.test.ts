/**
 * The recipes of docs/server.md that can run here, read from the doc and run as printed (folder and port
 * replaced):
 * - node:http, Express, Fastify and Hono on Node with csp-seal/server: pages with a fresh nonce, client routes,
 *   ranges, the app's own routes and 404s, and a page in Chromium with zero violations;
 * - the Python server, checked in Chromium;
 * - the Caddy and Apache configs, checked by `caddy validate` and `apache2ctl -t`;
 * - Electron's `protocol.handle` (the fetch handler with real `Request`s of a custom scheme);
 * - `file://` pages (Electron's loadFile) with the hash-only meta.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { sealDirectory, type Manifest } from '../src/index.js'
import { createHandler, policyWithNonce } from '../src/server/index.js'
import { CHROMIUM_ARGS, CHROMIUM_PATH, describeVisit, launchBrowser, readExpected, visit, type Browser } from './support/browser.js'
import { expectNonced, expectWorking } from './support/expect-page.js'
import { copyFixture, FIXTURES, removeDir } from './support/sites.js'

const DOC = new URL('../docs/server.md', import.meta.url)
const siteExpected = readExpected(`${FIXTURES}example-site`)
const appExpected = readExpected(`${FIXTURES}nonce-app`).pages[0]!

let browser: Browser
let site: string
let app: string
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  browser = await launchBrowser()
  site = await copyFixture('example-site')
  app = await copyFixture('nonce-app')
  cleanup.push(
    () => removeDir(site),
    () => removeDir(app),
  )
  await sealDirectory(site, { eventHandlers: 'hash' })
  await sealDirectory(app, {})
})
afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo()
  await browser?.close()
})

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('the Python recipe', { timeout: 300_000 }, () => {
  const python = spawnSync('python3', ['--version']).status === 0
  beforeEach(() => {
    if (!python)
      throw new Error('python3 not found: the Python recipe of docs/server.md is tested with a real python3. Install it with: apt-get install -y python3')
  })

  const servers = new Map<string, { origin: string; child: ChildProcess; output: () => string }>()
  beforeAll(async () => {
    if (!python) return
    const doc = await readFile(DOC, 'utf8')
    const code = /<!-- recipe: python -->\s*```python\n([\s\S]*?)```/.exec(doc)?.[1]
    expect(code, 'docs/server.md has a python block after <!-- recipe: python -->').toBeTruthy()
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-python-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const script = join(dir, 'serve.py')
    await writeFile(script, code!)
    for (const [name, root] of [
      ['site', site],
      ['app', app],
    ] as const) {
      const port = await freePort()
      const child = spawn('python3', [script, root, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
      cleanup.push(async () => {
        child.kill('SIGTERM')
      })
      const origin = `http://127.0.0.1:${port}`
      for (let i = 0; ; i++) {
        if (child.exitCode !== null) throw new Error(`the Python recipe exited (${child.exitCode}):\n${output}`)
        if (
          await fetch(`${origin}/`).then(
            () => true,
            () => false,
          )
        )
          break
        if (i > 1200) throw new Error(`the Python recipe did not listen on ${origin}:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      servers.set(name, { origin, child, output: () => output })
    }
  })

  for (const page of siteExpected.pages) {
    it(`${page.path}: a fresh nonce, zero violations, everything works`, async () => {
      const v = await visit(browser, `${servers.get('site')!.origin}/${page.path}`)
      try {
        await expectWorking(v, page)
        await expectNonced(v)
      } finally {
        await v.close()
      }
    })
  }

  it('serves the page that injects styles and scripts at run time with zero violations', async () => {
    const v = await visit(browser, `${servers.get('app')!.origin}/index.html`)
    try {
      await expectWorking(v, appExpected)
      await expectNonced(v)
    } finally {
      await v.close()
    }
  })

  it('adds the nonce exactly where csp-seal/server does', async () => {
    const manifest = JSON.parse(await readFile(join(site, 'csp-seal.json'), 'utf8')) as Manifest
    for (const file of ['index.html', 'docs/guide/index.html', 'no-head.html']) {
      const res = await fetch(`${servers.get('site')!.origin}/${file}`)
      const header = res.headers.get('content-security-policy')!
      const nonce = /'nonce-([^']+)'/.exec(header)![1]!
      expect(header).toBe(policyWithNonce(manifest.pages[file]!.policy, nonce))
      expect(res.headers.get('cache-control')).toBe('no-store')
    }
  })

  it('serves a page changed after sealing hash-only, and never a file outside the root', async () => {
    const { origin, output } = servers.get('site')!
    const manifest = JSON.parse(await readFile(join(site, 'csp-seal.json'), 'utf8')) as Manifest
    const file = join(site, 'bom.html')
    const original = await readFile(file)
    await writeFile(file, Buffer.concat([original, Buffer.from('<!-- edited -->')]))
    try {
      const res = await fetch(`${origin}/bom.html`)
      expect(res.headers.get('content-security-policy')).toBe(manifest.pages['bom.html']!.policy)
      expect(await res.text()).toContain('<!-- edited -->')
      // The server logs after it answers: wait for its output (the test's hang guard stops a wait that never ends).
      while (!output().includes('served hash-only')) await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      await writeFile(file, original)
    }
    for (const path of ['/../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/.%2e/csp-seal.json', '/assets/..%2f..%2fetc/passwd']) {
      // node:http sends the path as written (fetch would resolve the dot segments first).
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${origin}/`, { path }, (res) => {
          res.resume()
          resolve(res.statusCode!)
        })
        req.on('error', reject)
        req.end()
      })
      expect(status, path).toBe(404)
    }
  })
})

describe('file:// pages with the hash-only meta (Electron loadFile)', { timeout: 300_000 }, () => {
  // Pages whose root-relative URLs (/assets/…) cannot resolve under file://.
  const filePages = siteExpected.pages.filter((page) => !page.exercises.includes('root-relative-url'))

  it('run their inline code by hash with zero violations, and block injected code', async () => {
    expect(filePages.map((p) => p.path)).toContain('index.html')
    const copy = await copyFixture('example-site')
    cleanup.push(() => removeDir(copy))
    await sealDirectory(copy, { eventHandlers: 'hash' })
    const file = join(copy, 'crlf.html')
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace('</body>', "<script>(window.__ran = window.__ran || []).push('attack:inline')</script></body>"),
    )
    for (const page of filePages) {
      const v = await visit(browser, `file://${join(copy, page.path)}`)
      try {
        const info = describeVisit(v)
        const inline = page.ran.filter((id) => !id.includes('/'))
        expect([...v.ran].filter((id) => !id.includes('/')).sort(), info).toEqual([...inline].sort())
        if (page.path === 'crlf.html') {
          expect(
            v.violations.map((x) => `${x.effectiveDirective} ${x.blockedURI}`),
            info,
          ).toEqual(['script-src-elem inline'])
        } else {
          expect(v.violations, info).toEqual([])
        }
        // Chromium's own file:// rule, which docs/server.md states: local files with integrity need CORS there.
        if (page.ran.includes('assets/app.js')) expect(v.ran, info).not.toContain('assets/app.js')
      } finally {
        await v.close()
      }
    }
  })

  it('work completely where file:// pages may read files (--allow-file-access-from-files)', async () => {
    const fileBrowser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, '--allow-file-access-from-files'],
      chromiumSandbox: false,
    })
    try {
      for (const page of filePages) {
        const v = await visit(fileBrowser, `file://${join(site, page.path)}`)
        try {
          const info = describeVisit(v)
          expect([...v.ran].sort(), info).toEqual([...page.ran].sort())
          expect(v.violations, info).toEqual([])
          expect(v.integrityErrors, info).toEqual([])
          expect(v.failedRequests, info).toEqual([])
          for (const [selector, property, value] of page.styles) {
            expect(
              await v.page.evaluate(([s, p]) => getComputedStyle(document.querySelector(s!)!).getPropertyValue(p!), [selector, property]),
              `${page.path} ${selector}`,
            ).toBe(value)
          }
        } finally {
          await v.close()
        }
      }
    } finally {
      await fileBrowser.close()
    }
  })
})

/** A fenced block of docs/server.md after `<!-- recipe: name -->`. */
async function recipeBlock(name: string, language: string): Promise<string> {
  const doc = await readFile(DOC, 'utf8')
  const code = new RegExp(`<!-- recipe: ${name} -->\\s*\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(doc)?.[1]
  if (!code) throw new Error(`docs/server.md has no ${language} block after <!-- recipe: ${name} -->`)
  return code
}

describe('the Node recipes, run as printed', { timeout: 300_000 }, () => {
  const SERVER = pathToFileURL(new URL('../dist/src/server/index.js', import.meta.url).pathname).href
  // Inside node_modules, so the recipe's own imports (express, fastify, hono) resolve as in an app.
  const RECIPES = new URL('../node_modules/.cache/csp-seal-recipes/', import.meta.url).pathname

  for (const name of ['http', 'express', 'fastify', 'hono']) {
    it(`${name}: pages with a fresh nonce, client routes, ranges, the app's routes, zero violations in Chromium`, async () => {
      const port = await freePort()
      const code = (await recipeBlock(name, 'js'))
        .replaceAll("'csp-seal/server'", `'${SERVER}'`)
        .replaceAll("root: 'dist'", `root: ${JSON.stringify(app)}`)
        .replaceAll('8080', String(port))
      await mkdir(RECIPES, { recursive: true })
      const file = join(await mkdtemp(RECIPES), `${name}.mjs`)
      cleanup.push(() => rm(join(file, '..'), { recursive: true, force: true }))
      await writeFile(file, code)
      const child = spawn('node', [file], { stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
      cleanup.push(async () => {
        child.kill('SIGTERM')
      })
      const origin = `http://127.0.0.1:${port}`
      for (let i = 0; ; i++) {
        if (child.exitCode !== null) throw new Error(`the ${name} recipe exited (${child.exitCode}):\n${output}`)
        if (
          await fetch(`${origin}/assets/app.css`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break
        if (i > 600) throw new Error(`the ${name} recipe did not listen on ${origin}:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const nonces = new Set<string>()
      for (const path of ['/', '/index.html', '/some/client/route']) {
        const res = await fetch(`${origin}${path}`)
        expect([path, res.status]).toEqual([path, 200])
        const nonce = /'nonce-([^']+)'/.exec(res.headers.get('content-security-policy') ?? '')?.[1]
        expect(await res.text(), path).toContain(`<meta property="csp-nonce" nonce="${nonce}">`)
        expect(res.headers.get('cache-control')).toBe('no-store')
        nonces.add(nonce!)
      }
      expect(nonces.size).toBe(3)
      const css = await readFile(join(app, 'assets/app.css'))
      const part = await fetch(`${origin}/assets/app.css`, { headers: { Range: 'bytes=0-9' } })
      expect(part.status).toBe(206)
      expect(Buffer.from(await part.arrayBuffer()).equals(css.subarray(0, 10))).toBe(true)
      expect((await fetch(`${origin}/assets/missing.css`)).status).toBe(404)
      expect((await fetch(`${origin}/csp-seal.json`)).status).toBe(404)
      if (name !== 'http') expect(await (await fetch(`${origin}/api/health`)).json()).toEqual({ ok: true })
      const v = await visit(browser, `${origin}/`)
      try {
        await expectWorking(v, appExpected)
        await expectNonced(v)
      } finally {
        await v.close()
      }
    })
  }
})

describe('Electron protocol.handle: the fetch handler with custom-scheme requests', () => {
  it('serves pages with a nonce, client routes, and byte ranges (media seeking) on app://', async () => {
    const handle = createHandler({ root: app, fallback: 'index.html' })
    const page = await handle(new Request('app://bundle/settings/profile'))
    expect(page.status).toBe(200)
    const nonce = /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy')!)![1]
    expect(await page.text()).toContain(`nonce="${nonce}"`)
    const css = await readFile(join(app, 'assets/app.css'))
    const part = await handle(new Request('app://bundle/assets/app.css', { headers: { Range: `bytes=5-` } }))
    expect([part.status, part.headers.get('content-range')]).toEqual([206, `bytes 5-${css.length - 1}/${css.length}`])
    expect(Buffer.from(await part.arrayBuffer()).equals(css.subarray(5))).toBe(true)
    const outside = await handle(new Request('app://bundle/../../etc/passwd.txt'))
    expect(outside.status).toBe(404)
    expect(await outside.text()).not.toContain('root:')
  })
})

describe('the Caddy and Apache configs, checked by their own config checkers', () => {
  const run = promisify(execFile)
  it('caddy validate accepts the Caddyfile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-caddy-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'Caddyfile')
    await writeFile(file, (await recipeBlock('caddy', 'caddy')).replace('/srv/site/dist', site))
    const result = await run('caddy', ['validate', '--adapter', 'caddyfile', '--config', file], {
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    }).catch((error: { stderr: string; code: unknown }) => {
      throw new Error(`caddy validate rejected the recipe (${String(error.code)}); caddy comes from Debian's caddy package:\n${error.stderr}`)
    })
    expect(`${result.stdout}${result.stderr}`).toMatch(/Valid configuration/)
  })

  it('apache2ctl -t accepts the virtual host', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csp-seal-apache-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const modules = '/usr/lib/apache2/modules'
    const conf = join(dir, 'apache2.conf')
    await writeFile(
      conf,
      [
        `ServerRoot ${dir}`,
        `PidFile ${join(dir, 'apache2.pid')}`,
        `ErrorLog ${join(dir, 'error.log')}`,
        'Listen 127.0.0.1:8080',
        'ServerName 127.0.0.1',
        ...['mpm_event', 'authz_core', 'dir', 'mime', 'rewrite', 'headers', 'alias'].map((m) => `LoadModule ${m}_module ${modules}/mod_${m}.so`),
        (await recipeBlock('apache', 'apache')).replaceAll('/srv/site/dist', site).replace('*:80', '127.0.0.1:8080'),
      ].join('\n'),
    )
    const result = await run('apache2ctl', ['-t'], {
      env: { ...process.env, APACHE_ARGUMENTS: `-f ${conf}`, APACHE_CONFDIR: dir, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir },
    }).catch((error: { stderr: string; code: unknown }) => {
      throw new Error(`apache2ctl -t rejected the recipe (${String(error.code)}); apache2ctl comes from Debian's apache2 package:\n${error.stderr}`)
    })
    expect(`${result.stdout}${result.stderr}`).toMatch(/Syntax OK/)
  })
})
