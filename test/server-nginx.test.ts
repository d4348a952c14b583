/**
 * The nginx recipes with a real nginx (Debian's /usr/sbin/nginx) on 127.0.0.1, checked in Chromium:
 * - hash-only: the `csp-seal.nginx.conf` include the build writes into the site;
 * - nonce mode: `csp-seal nginx-nonce` templates outside the web root, `sub_filter` and `$request_id`.
 * nginx runs in the foreground as a child of the test, with its pid, logs and temp files in a temp folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { sealDirectory, type Manifest } from '../src/index.js'
import { NGINX_NONCE_INCLUDE, writeNginxNonceTemplates } from '../src/server/index.js'
import { computedStyle, describeVisit, launchBrowser, readExpected, visit, type Browser } from './support/browser.js'
import { expectNonced, expectWorking } from './support/expect-page.js'
import { FIXTURES } from './support/sites.js'

const NGINX = '/usr/sbin/nginx'
const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const HEX_NONCE = /^[0-9a-f]{32}$/
const siteExpected = readExpected(`${FIXTURES}example-site`)
const appExpected = readExpected(`${FIXTURES}nonce-app`).pages[0]!
const run = promisify(execFile)

let browser: Browser
let work: string
let nginx: ChildProcess | undefined
let nginxOutput = ''
const origins = { hashSite: '', nonceSite: '', hashApp: '', nonceApp: '' }
let site: string
let app: string
let siteTemplates: string
let appTemplates: string
let conf: string

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitForListening(origin: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (nginx?.exitCode !== null)
      throw new Error(`nginx exited (${nginx?.exitCode}):\n${nginxOutput}\n${await readFile(join(work, 'error.log'), 'utf8').catch(() => '')}`)
    try {
      await fetch(`${origin}/`)
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error(`nginx did not listen on ${origin}:\n${nginxOutput}`)
}

const nginxArgs = () => ['-p', work, '-c', conf, '-e', join(work, 'error.log')]

// Without nginx every test fails with this message (never skipped): CI must install it.
const nginxMissing = !existsSync(NGINX)
beforeEach(() => {
  if (nginxMissing) throw new Error(`${NGINX} not found: the nginx recipes are tested against a real nginx. Install it with: apt-get install -y nginx`)
})

beforeAll(async () => {
  if (nginxMissing) return
  browser = await launchBrowser()
  work = await mkdtemp(join(tmpdir(), 'csp-seal-nginx-'))
  // nginx workers run as an unprivileged user when started by root: they must be able to read everything.
  await chmod(work, 0o755)
  site = join(work, 'site')
  app = join(work, 'app')
  await cp(join(FIXTURES, 'example-site'), site, { recursive: true })
  await cp(join(FIXTURES, 'nonce-app'), app, { recursive: true })
  await sealDirectory(site, { headers: ['nginx'], eventHandlers: 'hash' })
  await sealDirectory(app, { headers: ['nginx'] })
  // The templates live outside both web roots: one through the API, one through the CLI.
  siteTemplates = join(work, 'nginx-nonce', 'site')
  appTemplates = join(work, 'nginx-nonce', 'app')
  await writeNginxNonceTemplates({ root: site, out: siteTemplates })
  const cli = await run('node', [BIN, 'nginx-nonce', app, '--out', appTemplates], { env: { ...process.env, NO_COLOR: '1' } })
  expect(cli.stdout).toContain(`include ${join(appTemplates, NGINX_NONCE_INCLUDE)};`)

  const ports = { hashSite: await freePort(), nonceSite: await freePort(), hashApp: await freePort(), nonceApp: await freePort() }
  const server = (port: number, root: string, include: string) => `
    server {
      listen 127.0.0.1:${port};
      root ${root};
      index index.html;
      include ${include};
    }`
  conf = join(work, 'nginx.conf')
  await mkdir(join(work, 'tmp'))
  await writeFile(
    conf,
    `daemon off;
worker_processes 1;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')} warn;
events { worker_connections 128; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path ${join(work, 'tmp', 'body')};
  proxy_temp_path ${join(work, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(work, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(work, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(work, 'tmp', 'scgi')};
  ${server(ports.hashSite, site, join(site, 'csp-seal.nginx.conf'))}
  ${server(ports.nonceSite, site, join(siteTemplates, NGINX_NONCE_INCLUDE))}
  ${server(ports.hashApp, app, join(app, 'csp-seal.nginx.conf'))}
  ${server(ports.nonceApp, app, join(appTemplates, NGINX_NONCE_INCLUDE))}
}
`,
  )
  const test = await run(NGINX, ['-t', ...nginxArgs()]).catch((error: { stderr: string }) => {
    throw new Error(`nginx -t rejected the generated config:\n${error.stderr}`)
  })
  expect(test.stderr).toMatch(/syntax is ok[\s\S]*test is successful/)

  nginx = spawn(NGINX, nginxArgs(), { stdio: ['ignore', 'pipe', 'pipe'] })
  nginx.stdout!.on('data', (chunk: Buffer) => (nginxOutput += chunk))
  nginx.stderr!.on('data', (chunk: Buffer) => (nginxOutput += chunk))
  for (const [name, port] of Object.entries(ports)) {
    origins[name as keyof typeof origins] = `http://127.0.0.1:${port}`
    await waitForListening(origins[name as keyof typeof origins])
  }
})

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx!.once('exit', resolve))
    nginx.kill('SIGTERM') // fast shutdown: the master stops its workers
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
    if (nginx.exitCode === null) nginx.kill('SIGKILL')
  }
  await browser?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

describe('nginx, hash-only: the csp-seal.nginx.conf include', () => {
  for (const page of siteExpected.pages) {
    it(`${page.path}: the policy header is sent, zero violations, everything works`, async () => {
      const manifest = JSON.parse(await readFile(join(site, 'csp-seal.json'), 'utf8')) as Manifest
      const v = await visit(browser, `${origins.hashSite}/${page.path}`)
      try {
        await expectWorking(v, page)
        expect(v.response!.headers()['content-security-policy']).toBe(manifest.pages[page.path]!.policy)
      } finally {
        await v.close()
      }
    })
  }

  it('sends the header on folder and clean URLs too', async () => {
    const manifest = JSON.parse(await readFile(join(site, 'csp-seal.json'), 'utf8')) as Manifest
    for (const [url, file] of [
      ['/', 'index.html'],
      ['/docs/guide/', 'docs/guide/index.html'],
      ['/legacy.htm', 'legacy.htm'],
      ['/docs/guide', 'docs/guide/index.html'],
      ['/features', 'features.html'],
    ]) {
      const res = await fetch(`${origins.hashSite}${url}`)
      expect(res.status, url).toBe(200)
      expect(res.headers.get('content-security-policy'), url).toBe(manifest.pages[file!]!.policy)
    }
  })

  it('does not give run-time injected styles and scripts a way in (they need the nonce mode)', async () => {
    const v = await visit(browser, `${origins.hashApp}/index.html`)
    try {
      expect(v.ran, describeVisit(v)).not.toContain('nonce-app:runtime-inline')
      expect(await computedStyle(v.page, '#runtime-style', 'color')).not.toBe('rgb(7, 8, 9)')
    } finally {
      await v.close()
    }
  })
})

describe('nginx, nonce mode: server-only templates, sub_filter and $request_id', () => {
  for (const page of siteExpected.pages) {
    it(`${page.path}: a fresh nonce in header, tags and meta, zero violations, everything works`, async () => {
      const v = await visit(browser, `${origins.nonceSite}/${page.path}`)
      try {
        await expectWorking(v, page)
        await expectNonced(v, HEX_NONCE)
      } finally {
        await v.close()
      }
    })
  }

  it('serves the page that injects styles and scripts at run time with zero violations', async () => {
    const v = await visit(browser, `${origins.nonceApp}/index.html`)
    try {
      await expectWorking(v, appExpected)
      await expectNonced(v, HEX_NONCE)
    } finally {
      await v.close()
    }
  })

  it('never sends the same nonce twice, nor the placeholder', async () => {
    const include = await readFile(join(siteTemplates, NGINX_NONCE_INCLUDE), 'utf8')
    const placeholder = /sub_filter "([^"]+)"/.exec(include)![1]!
    const nonces = new Set<string>()
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${origins.nonceSite}/${i % 2 ? 'docs/guide/' : 'index.html'}`)
      const body = await res.text()
      const nonce = /'nonce-([0-9a-f]{32})'/.exec(res.headers.get('content-security-policy')!)![1]!
      expect(body).toContain(`<meta property="csp-nonce" nonce="${nonce}">`)
      expect(body).not.toContain(placeholder)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('etag')).toBeNull()
      expect(res.headers.get('last-modified')).toBeNull()
      nonces.add(nonce)
    }
    expect(nonces.size).toBe(50)
  })

  it('keeps the placeholder out of every public file', async () => {
    const include = await readFile(join(siteTemplates, NGINX_NONCE_INCLUDE), 'utf8')
    const placeholder = /sub_filter "([^"]+)"/.exec(include)![1]!
    expect(placeholder).toMatch(/^cspseal[0-9a-f]{32}$/)
    for (const root of [site, app]) {
      for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) expect(await readFile(join(entry.parentPath, entry.name), 'utf8'), entry.name).not.toMatch(/cspseal[0-9a-f]{32}|nonce="/)
      }
    }
    const otherPlaceholder = /sub_filter "([^"]+)"/.exec(await readFile(join(appTemplates, NGINX_NONCE_INCLUDE), 'utf8'))![1]!
    expect(otherPlaceholder).not.toBe(placeholder)
  })

  it('a rebuild writes a new template folder, keeps the previous one for the running nginx, and works after a reload', async () => {
    const first = await readdir(siteTemplates)
    const second = await writeNginxNonceTemplates({ root: site, out: siteTemplates })
    const third = await writeNginxNonceTemplates({ root: site, out: siteTemplates })
    const builds = (await readdir(siteTemplates)).filter((name) => name.startsWith('build-')).sort()
    expect(builds).toEqual([second.templates, third.templates].map((path) => path.split('/').pop()).sort())
    expect(first.filter((name) => name.startsWith('build-')).some((name) => builds.includes(name))).toBe(false)
    await run(NGINX, ['-s', 'reload', ...nginxArgs()])
    const placeholder = /sub_filter "([^"]+)"/.exec(await readFile(third.include, 'utf8'))![1]!
    expect(await readFile(join(third.templates, 'index.html'), 'utf8')).toContain(placeholder)
    // Reload is asynchronous, and the first build is gone: wait until the new workers answer. Until then an old worker
    // answers 404, or closes the kept-alive connection a request was sent on as it winds down.
    const answered = () =>
      fetch(`${origins.nonceSite}/index.html`).then(
        (response) => response.status === 200,
        () => false,
      )
    while (!(await answered())) await new Promise((resolve) => setTimeout(resolve, 100))
    const v = await visit(browser, `${origins.nonceSite}/index.html`)
    try {
      await expectWorking(
        v,
        siteExpected.pages.find((p) => p.path === 'index.html')!,
      )
      await expectNonced(v, HEX_NONCE)
    } finally {
      await v.close()
    }
  })

  it('refuses a template folder inside the web root, and a page changed after sealing', async () => {
    await expect(writeNginxNonceTemplates({ root: site, out: join(site, 'templates') })).rejects.toThrow(/is inside the web root/)
    await symlink(site, join(work, 'site-link'))
    await expect(writeNginxNonceTemplates({ root: site, out: join(work, 'site-link', 'templates') })).rejects.toThrow(/is inside the web root/)
    expect(existsSync(join(site, 'templates'))).toBe(false)
    const tampered = join(work, 'tampered')
    await cp(site, tampered, { recursive: true })
    await writeFile(join(tampered, 'index.html'), (await readFile(join(tampered, 'index.html'), 'utf8')).replace('Nimbus', 'Nimbvs'))
    await expect(writeNginxNonceTemplates({ root: tampered, out: join(work, 'tampered-templates') })).rejects.toThrow(
      /index\.html: the file changed after sealing/,
    )
    const missingOut = await run('node', [BIN, 'nginx-nonce', site], { env: { ...process.env, NO_COLOR: '1' } }).catch(
      (error: { code: number; stderr: string }) => error,
    )
    expect(missingOut).toMatchObject({ code: 2, stderr: expect.stringMatching(/nginx-nonce needs --out/) })
  })
})
