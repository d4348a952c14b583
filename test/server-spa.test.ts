/**
 * In real Chromium:
 * - a router app (fixtures/router-app, built by Vite, sealed by the CLI) served by `csp-seal serve --nonce
 *   --fallback index.html`: a deep link works with zero violations and a fresh nonce per response, client-side
 *   navigation and reloads on client routes work, and the run-time injected style needs the nonce;
 * - pages the manifest does not list (`.HTML`) carry the site's default policy, and SVG / XHTML documents the
 *   restrictive document policy: an injected inline script runs in none of them (and does run without them).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealDirectory } from '../src/index.js'
import { createMiddleware, type ServerOptions } from '../src/server/index.js'
import { computedStyle, describeVisit, launchBrowser, visit, type Browser, type Visit } from './support/browser.js'
import { noncesOf } from './support/expect-page.js'
import { FIXTURES } from './support/sites.js'
import { startStaticServer } from './support/static-server.js'

const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname

let browser: Browser
let work: string
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  browser = await launchBrowser()
  work = await mkdtemp(join(tmpdir(), 'csp-seal-spa-'))
  cleanup.push(() => rm(work, { recursive: true, force: true }))
})
afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo()
  await browser?.close()
})

function cli(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('node', [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk))
    child.once('exit', (code) => resolve({ code, output }))
  })
}

async function serve(args: string[]): Promise<string> {
  const child: ChildProcess = spawn('node', [BIN, 'serve', ...args, '--port', '0'], { env: { ...process.env, NO_COLOR: '1' } })
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
  })
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
  return new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      const found = /http:\/\/127\.0\.0\.1:\d+/.exec(output)
      if (found) resolve(found[0])
    })
    child.once('exit', (code) => reject(new Error(`csp-seal serve exited with ${code}:\n${output}`)))
  })
}

// A hang guard only: the page signals when it has rendered.
const waitForRan = (v: Visit, id: string) =>
  v.page.waitForFunction((want) => (window as unknown as { __ran?: string[] }).__ran?.includes(want), id, { timeout: 240_000 }).then(() => v.collect())

describe('a router app served by csp-seal serve --nonce --fallback index.html', { timeout: 300_000 }, () => {
  let dist: string
  let origin: string
  beforeAll(async () => {
    dist = join(work, 'router')
    const { build } = await import('vite')
    await build({ root: join(FIXTURES, 'router-app'), logLevel: 'warn', build: { outDir: dist, emptyOutDir: true } })
    const sealed = await cli([dist])
    expect(sealed.code, sealed.output).toBe(0)
    origin = await serve([dist, '--nonce', '--fallback', 'index.html'])
  })

  async function expectClean(v: Visit): Promise<void> {
    const info = describeVisit(v)
    expect(v.violations, info).toEqual([])
    expect(v.cspConsoleErrors, info).toEqual([])
    expect(v.pageErrors, info).toEqual([])
    expect(v.failedRequests, info).toEqual([])
    expect(v.badResponses, info).toEqual([])
  }

  it('opens a deep link with zero violations: the route renders, its chunk and stylesheet load, the injected style applies', async () => {
    const v = await visit(browser, `${origin}/users/42`)
    try {
      await waitForRan(v, 'route:user:42')
      expect(v.response!.status()).toBe(200)
      expect(await v.page.textContent('#title')).toBe('User 42')
      expect(await computedStyle(v.page, '#user-card', 'letter-spacing')).toBe('2px') // the route's CSS chunk
      expect(await computedStyle(v.page, '#view', 'color')).toBe('rgb(20, 30, 40)') // the entry's CSS
      expect(await computedStyle(v.page, '#view', 'border-left-color')).toBe('rgb(9, 8, 7)') // injected with the nonce
      expect(await computedStyle(v.page, '#shell', 'color')).toBe('rgb(1, 2, 3)') // inline, by hash
      const { fromHeader, fromMeta, policyMetas } = await noncesOf(v)
      expect(new Set(fromHeader)).toEqual(new Set([fromMeta]))
      expect(policyMetas).toBe(0)
      expect(v.response!.headers()['cache-control']).toBe('no-store')
      await expectClean(v)
    } finally {
      await v.close()
    }
  })

  it('navigates on the client without a reload, and back; a reload on a client route works', async () => {
    const v = await visit(browser, `${origin}/`)
    try {
      await waitForRan(v, 'route:home')
      await v.page.click('#to-user')
      await waitForRan(v, 'route:user:7')
      await v.page.click('#to-about')
      await waitForRan(v, 'route:about')
      expect(v.page.url()).toBe(`${origin}/about`)
      await v.page.goBack()
      await v.page.waitForFunction(() => document.querySelector('#title')?.textContent === 'User 7', undefined, { timeout: 240_000 })
      expect(await v.page.evaluate(() => (window as unknown as { __booted: number }).__booted)).toBe(1)
      await v.page.reload()
      await v.page.waitForFunction(() => document.querySelector('#title')?.textContent === 'User 7', undefined, { timeout: 240_000 })
      await v.collect()
      await expectClean(v)
    } finally {
      await v.close()
    }
  })

  it('gives every response its own nonce', async () => {
    const seen = new Set<string>()
    for (const path of ['/users/1', '/users/1', '/about', '/']) {
      const v = await visit(browser, `${origin}${path}`)
      try {
        const { fromMeta } = await noncesOf(v)
        expect(fromMeta).toMatch(/^[A-Za-z0-9+/]{22}==$/)
        seen.add(fromMeta!)
      } finally {
        await v.close()
      }
    }
    expect(seen.size).toBe(4)
  })

  it('points `csp-seal <dir> --nonce` to serve, and refuses a fallback that is not a sealed page', async () => {
    const misplaced = await cli([dist, '--nonce'])
    expect(misplaced.code).toBe(2)
    expect(misplaced.output).toContain(`csp-seal serve ${dist} --nonce`)
    const missing = await cli(['serve', dist, '--fallback', 'nope.html', '--port', '0'])
    expect(missing.code).toBe(1)
    expect(missing.output).toMatch(/the fallback page nope\.html is not a sealed page/)
  })

  it('keeps unknown files 404 and the manifest private', async () => {
    for (const path of ['/assets/missing.js', '/users/42/avatar.png', '/csp-seal.json']) expect((await fetch(`${origin}${path}`)).status, path).toBe(404)
  })

  it('without the fallback, a deep link is a 404; without nonces, the injected style is blocked', async () => {
    const plain = await serve([dist])
    expect((await fetch(`${plain}/users/42`)).status).toBe(404)
    const v = await visit(browser, `${plain}/`)
    try {
      await waitForRan(v, 'route:home')
      expect(await computedStyle(v.page, '#view', 'border-left-color')).not.toBe('rgb(9, 8, 7)')
      expect(
        v.violations.map((x) => x.effectiveDirective),
        describeVisit(v),
      ).toContain('style-src-elem')
    } finally {
      await v.close()
    }
  })
})

describe('documents csp-seal does not seal, in Chromium', { timeout: 300_000 }, () => {
  const attack = (marker: string) => `document.documentElement.setAttribute('data-attack', '${marker}')`
  const FILES: Record<string, string> = {
    'index.html':
      '<!doctype html><html><head><meta charset="utf-8"><title>home</title></head><body><img id="logo" src="logo.svg" width="20" height="20"></body></html>',
    'logo.svg':
      '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><style>rect { fill: rgb(0, 128, 0) }</style><rect width="20" height="20"/></svg>',
  }
  const UNSEALED: Record<string, string> = {
    'LATE.HTML': `<!doctype html><html><head><meta charset="utf-8"></head><body><p>late</p><script>${attack('html')}</script></body></html>`,
    'doc.svg': `<svg xmlns="http://www.w3.org/2000/svg"><script>${attack('svg')}</script></svg>`,
    'page.xhtml': `<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body><script>${attack('xhtml')}</script></body></html>`,
  }
  let site: string
  const servers: Server[] = []
  async function runtime(options: Partial<ServerOptions>): Promise<string> {
    const server = createServer(createMiddleware({ root: site, ...options }))
    server.keepAliveTimeout = 1000
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    servers.push(server)
    cleanup.push(async () => {
      server.closeAllConnections()
      server.close()
    })
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
  beforeAll(async () => {
    site = join(work, 'documents')
    await (await import('node:fs/promises')).mkdir(site)
    for (const [file, text] of Object.entries(FILES)) await writeFile(join(site, file), text)
    await sealDirectory(site)
    for (const [file, text] of Object.entries(UNSEALED)) await writeFile(join(site, file), text)
  })

  const attacked = (v: Visit) => v.page.evaluate(() => document.documentElement.getAttribute('data-attack'))

  it('control: without a policy, the script in each document runs', async () => {
    const plain = await startStaticServer(site)
    cleanup.push(() => plain.close())
    const permissive = await runtime({ documentPolicy: false })
    for (const [origin, file] of [
      [plain.origin, 'LATE.HTML'],
      [permissive, 'doc.svg'],
      [permissive, 'page.xhtml'],
    ] as const) {
      const v = await visit(browser, `${origin}/${file}`)
      try {
        expect(await attacked(v), file).not.toBeNull()
      } finally {
        await v.close()
      }
    }
  })

  it('served by the runtime, the script runs in none of them', async () => {
    const origin = await runtime({})
    for (const file of Object.keys(UNSEALED)) {
      const v = await visit(browser, `${origin}/${file}`)
      try {
        expect(v.response!.status(), file).toBe(200)
        expect(v.response!.headers()['content-security-policy'], file).toBeTruthy()
        expect(await attacked(v), `${file}\n${describeVisit(v)}`).toBeNull()
      } finally {
        await v.close()
      }
    }
  })

  it('an SVG used as an image still renders, styles and all, under the document policy', async () => {
    const origin = await runtime({})
    expect((await fetch(`${origin}/logo.svg`)).headers.get('content-security-policy')).toContain('sandbox')
    const v = await visit(browser, `${origin}/`)
    try {
      await v.page.waitForFunction(() => (document.getElementById('logo') as HTMLImageElement).complete, undefined, { timeout: 240_000 })
      const pixel = await v.page.evaluate(() => {
        const img = document.getElementById('logo') as HTMLImageElement
        const canvas = document.createElement('canvas')
        canvas.width = canvas.height = 20
        const context = canvas.getContext('2d')!
        context.drawImage(img, 0, 0)
        return [img.naturalWidth, ...context.getImageData(10, 10, 1, 1).data]
      })
      expect(pixel).toEqual([20, 0, 128, 0, 255])
      expect(v.violations, describeVisit(v)).toEqual([])
    } finally {
      await v.close()
    }
  })
})
