import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parsePolicy, RemoteIntegrity, resolveConfig, sealDirectory, SealError, type CspSealConfig, type LockFile } from '../src/index.js'
import { startCdn } from './support/cdn.js'
import { removeDir, snapshot } from './support/sites.js'

const LIB = 'window.__ran = (window.__ran || []).concat("cdn:lib")'
const CSS = 'body { color: rgb(1, 2, 3) }'
const sri = (text: string | Buffer) => `sha384-${createHash('sha384').update(text).digest('base64')}`

let cdn: Awaited<ReturnType<typeof startCdn>>
let work: string // holds site/ and the lock file and cache, like a project folder
let site: string

beforeEach(async () => {
  cdn = await startCdn({ '/lib.js': LIB, '/theme.css': CSS })
  work = await mkdtemp(join(tmpdir(), 'csp-seal-remote-'))
  site = join(work, 'site')
  await mkdir(site)
})
afterEach(async () => {
  await cdn.close()
  await removeDir(work)
})

const page = (body: string) => `<!doctype html><html><head><meta charset="utf-8">${body}</head><body></body></html>`
const seal = (config: CspSealConfig = {}, mode: 'write' | 'check' = 'write') => sealDirectory(site, config, { cwd: work, mode })
const readLock = async () => JSON.parse(await readFile(join(work, 'csp-seal.lock.json'), 'utf8')) as LockFile
const metaPolicy = (html: string) => parsePolicy(/content="([^"]*)"/.exec(html)![1]!)
const problemsOf = async (run: Promise<unknown>) => {
  const error = await run.catch((e) => e)
  expect(error).toBeInstanceOf(SealError)
  return (error as SealError).problems
}

describe('remote integrity: fetch, pin, allow', () => {
  it('adds integrity and crossorigin, pins the file, allows the script by hash and the stylesheet by origin', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script><link rel="stylesheet" href="${cdn.origin}/theme.css">`))
    const result = await seal()
    const html = await readFile(join(site, 'index.html'), 'utf8')
    expect(html).toContain(`<script src="${cdn.origin}/lib.js" integrity="${sri(LIB)}" crossorigin="anonymous"></script>`)
    expect(html).toContain(`<link rel="stylesheet" href="${cdn.origin}/theme.css" integrity="${sri(CSS)}" crossorigin="anonymous">`)
    const policy = metaPolicy(html)
    expect(policy.get('script-src')).toEqual(["'self'", `'${sri(LIB)}'`])
    expect(policy.get('style-src')).toEqual(["'self'", cdn.origin])
    const lock = await readLock()
    expect(lock.resources[`${cdn.origin}/lib.js`]).toMatchObject({ integrity: sri(LIB), finalUrl: `${cdn.origin}/lib.js`, size: LIB.length })
    expect(result.lockFile).toBe(join(work, 'csp-seal.lock.json'))
    expect(result.warnings.filter((w) => w.code.startsWith('remote'))).toEqual([])
  })

  it('fetches each distinct URL once per run, and not at all when the cache holds it', async () => {
    for (const name of ['a', 'b', 'c']) await writeFile(join(site, `${name}.html`), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal()
    expect(cdn.requests).toEqual(['/lib.js'])
    await writeFile(join(site, 'd.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal()
    expect(cdn.requests).toEqual(['/lib.js'])
  })

  it('hashes the bytes of each URL once per run: every page naming it gets the same digests', async () => {
    const integrity = new RemoteIntegrity(resolveConfig({}), work)
    const url = `${cdn.origin}/lib.js`
    const [first, second] = await Promise.all([integrity.resolve(url), integrity.resolve(url)])
    expect(second).toBe(first)
    expect(await integrity.resolve(url)).toBe(first)
    expect(first).toMatchObject({ kind: 'pinned', integrity: sri(LIB), digests: { sha384: sri(LIB).slice('sha384-'.length) } })
    expect(cdn.requests).toEqual(['/lib.js'])
  })

  it('can allow CDN scripts by origin instead, for browsers without CSP3 external hashes', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    const result = await seal({ remote: { allow: 'origin' } })
    expect(metaPolicy(await readFile(join(site, 'index.html'), 'utf8')).get('script-src')).toEqual(["'self'", cdn.origin])
    // The widening is said, with the directive and the origin.
    expect(result.warnings).toContainEqual(
      expect.objectContaining({
        code: 'script-origin',
        message: `${cdn.origin}/lib.js is allowed by its origin (remote.allow: 'origin'); script-src allows its whole origin ${cdn.origin}, so any script that origin serves can load`,
      }),
    )
  })

  it("falls back to the origin where the user's policy keeps 'unsafe-inline' for scripts", async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    const result = await seal({ policy: "default-src 'self'; script-src 'self' 'unsafe-inline'" })
    expect(metaPolicy(await readFile(join(site, 'index.html'), 'utf8')).get('script-src')).toEqual(["'self'", "'unsafe-inline'", cdn.origin])
    expect(result.warnings.find((w) => w.code === 'script-origin')!.message).toBe(
      `scripts from ${cdn.origin} cannot be allowed by their integrity hash, since script-src keeps 'unsafe-inline'; script-src allows its whole origin ${cdn.origin}, so any script that origin serves can load`,
    )
  })

  it('follows and records redirects', async () => {
    cdn.routes['/latest.js'] = (res) => res.writeHead(302, { location: '/v2/lib.js' }).end()
    cdn.routes['/v2/lib.js'] = LIB
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/latest.js"></script>`))
    await seal()
    expect((await readLock()).resources[`${cdn.origin}/latest.js`]).toMatchObject({
      integrity: sri(LIB),
      finalUrl: `${cdn.origin}/v2/lib.js`,
      redirects: [`${cdn.origin}/v2/lib.js`],
    })
  })

  it('keeps an existing integrity that matches, keeps crossorigin="use-credentials", and refuses one that does not match', async () => {
    await writeFile(join(site, 'good.html'), page(`<script src="${cdn.origin}/lib.js" integrity="${sri(LIB)}" crossorigin="use-credentials"></script>`))
    await seal()
    expect(await readFile(join(site, 'good.html'), 'utf8')).toContain(
      `<script src="${cdn.origin}/lib.js" integrity="${sri(LIB)}" crossorigin="use-credentials"></script>`,
    )
    await writeFile(join(site, 'bad.html'), page(`<script src="${cdn.origin}/lib.js" integrity="${sri('something else')}"></script>`))
    const problems = await problemsOf(seal())
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatchObject({ code: 'integrity-mismatch', file: 'bad.html' })
    expect(problems[0]!.message).toContain(`does not match the bytes ${cdn.origin}/lib.js serves`)
  })

  it('warns when the CDN sends no CORS header (browsers would refuse the file)', async () => {
    const noCors = await startCdn({ '/lib.js': LIB }, { cors: false })
    try {
      await writeFile(join(site, 'index.html'), page(`<script src="${noCors.origin}/lib.js"></script>`))
      const result = await seal()
      expect(result.warnings.map((w) => w.code)).toContain('remote-no-cors')
    } finally {
      await noCors.close()
    }
  })
})

describe('remote integrity: the lock file', () => {
  it('fails closed when the CDN serves different bytes, naming URL, page and both digests; --update-lock accepts', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal()
    const sealedSite = await snapshot(site)
    const lockBefore = await readFile(join(work, 'csp-seal.lock.json'), 'utf8')
    // A fresh machine (no cache) against a CDN that now serves something else.
    await rm(join(work, 'node_modules'), { recursive: true, force: true })
    cdn.routes['/lib.js'] = `${LIB};steal()`
    const problems = await problemsOf(seal())
    expect(problems[0]).toMatchObject({ code: 'remote-changed', file: 'index.html' })
    expect(problems[0]!.message).toContain(`${cdn.origin}/lib.js no longer matches the lock file: pinned ${sri(LIB)}, fetched ${sri(`${LIB};steal()`)}`)
    expect(problems[0]!.fix).toContain('--update-lock')
    expect(await snapshot(site)).toEqual(sealedSite)
    expect(await readFile(join(work, 'csp-seal.lock.json'), 'utf8')).toBe(lockBefore)

    // Unsealed pages again (the build rewrote them); accepting the change updates the lock.
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal({ remote: { updateLock: true } })
    expect((await readLock()).resources[`${cdn.origin}/lib.js`]!.integrity).toBe(sri(`${LIB};steal()`))
  })

  it('builds offline from the lock: lock-only never touches the network', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal()
    const sealed = await readFile(join(site, 'index.html'), 'utf8')
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await rm(join(work, 'node_modules'), { recursive: true, force: true })
    await cdn.close()
    const requests = cdn.requests.length
    await seal({ remote: { mode: 'lock-only' } })
    expect(await readFile(join(site, 'index.html'), 'utf8')).toBe(sealed)
    expect(cdn.requests.length).toBe(requests)
  })

  it('in fetch mode with the CDN down, uses the lock and says it could not re-check', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal()
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await rm(join(work, 'node_modules'), { recursive: true, force: true })
    await cdn.close()
    const result = await seal()
    expect(await readFile(join(site, 'index.html'), 'utf8')).toContain(`integrity="${sri(LIB)}"`)
    expect(result.warnings.find((w) => w.code === 'remote-unverified')!.message).toMatch(/could not be re-checked \(could not be fetched \(ECONNREFUSED\)\)/)
  })

  it('holds every URL to the lock, also those resolved at once while the lock is still being read', async () => {
    cdn.routes['/other.js'] = 'window.__other = 1'
    const urls = [`${cdn.origin}/lib.js`, `${cdn.origin}/other.js`]
    await writeFile(join(site, 'index.html'), page(urls.map((url) => `<script src="${url}"></script>`).join('')))
    await seal()
    await rm(join(work, 'node_modules'), { recursive: true, force: true })
    // One instance, every URL asked for before its lock file has been read.
    const resolveAll = (remote: CspSealConfig['remote']) => {
      const integrity = new RemoteIntegrity(resolveConfig({ remote }), work)
      return Promise.all(urls.map((url) => integrity.resolve(url)))
    }
    const offline = await resolveAll({ mode: 'lock-only' })
    expect(offline.map((outcome) => outcome.kind)).toEqual(['pinned', 'pinned'])

    cdn.routes['/lib.js'] = `${LIB};steal()`
    cdn.routes['/other.js'] = 'steal()'
    const online = await resolveAll({})
    expect(online.map((outcome) => outcome.kind)).toEqual(['changed', 'changed'])
  })

  it('lock-only: a URL missing from the lock is an error', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    const problems = await problemsOf(seal({ remote: { mode: 'lock-only' } }))
    expect(problems[0]!.message).toBe(
      `${cdn.origin}/lib.js is not in the lock file csp-seal.lock.json (remote.mode is lock-only), so its integrity cannot be computed`,
    )
    expect(cdn.requests).toEqual([])
  })

  it('--check holds pages to the lock without using the network', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    await seal()
    await rm(join(work, 'node_modules'), { recursive: true, force: true })
    const requests = cdn.requests.length
    const check = await seal({}, 'check')
    expect(check.problems).toEqual([])
    expect(cdn.requests.length).toBe(requests)
  })

  it('reports a lock file that is not valid JSON', async () => {
    await writeFile(join(work, 'csp-seal.lock.json'), '{ nope')
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script>`))
    const problems = await problemsOf(seal())
    expect(problems[0]).toMatchObject({ code: 'invalid-lock' })
  })
})

describe('remote integrity: bad URLs and bad servers', () => {
  const cases: Array<[string, (origin: string) => string, RegExp]> = [
    ['a 404', (o) => `${o}/missing.js`, /missing\.js answered HTTP 404/],
    ['a 500', (o) => `${o}/error.js`, /error\.js answered HTTP 500/],
    ['a redirect loop', (o) => `${o}/loop-a.js`, /loop-a\.js redirects in a loop/],
    ['a body over the cap', (o) => `${o}/big.js`, /big\.js is over the 1024-byte limit/],
    ['a declared body over the cap', (o) => `${o}/declared-big.js`, /declared-big\.js is 5000 bytes, over the 1024-byte limit/],
    ['a timeout', (o) => `${o}/slow.js`, /slow\.js timed out after 300 ms/],
    ['an unreachable host', () => `http://127.0.0.1:${closedPort}/x.js`, /x\.js could not be fetched \(ECONNREFUSED\)/],
    ['a port browsers refuse', () => 'http://127.0.0.1:9/x.js', /127\.0\.0\.1:9\/x\.js could not be fetched \(bad port\)/],
  ]
  let closedPort = 0
  beforeEach(async () => {
    const probe = await startCdn({})
    closedPort = Number(new URL(probe.origin).port)
    await probe.close()
    cdn.routes['/error.js'] = (res) => res.writeHead(500).end('boom')
    cdn.routes['/loop-a.js'] = (res) => res.writeHead(301, { location: '/loop-b.js' }).end()
    cdn.routes['/loop-b.js'] = (res) => res.writeHead(301, { location: '/loop-a.js' }).end()
    cdn.routes['/big.js'] = (res) => {
      res.writeHead(200, { 'content-type': 'text/javascript' })
      res.end('x'.repeat(5000))
    }
    cdn.routes['/declared-big.js'] = (res) => res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000))
    cdn.routes['/slow.js'] = (res) => setTimeout(() => res.writeHead(200).end(LIB), 2000).unref()
  })

  for (const [name, url, message] of cases) {
    it(`${name}: an error naming page and URL, and nothing written`, async () => {
      await writeFile(join(site, 'index.html'), page(`<script src="${url(cdn.origin)}"></script>`))
      const before = await snapshot(site)
      const problems = await problemsOf(seal({ remote: { timeout: 300, maxBytes: 1024 } }))
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatchObject({ code: 'remote-fetch', file: 'index.html', line: 1 })
      expect(problems[0]!.message).toMatch(message)
      expect(await snapshot(site)).toEqual(before)
      await expect(readFile(join(work, 'csp-seal.lock.json'))).rejects.toThrow()
    })
  }

  it('with remote errors downgraded, warns and leaves the tag untouched', async () => {
    const tag = `<script src="${cdn.origin}/error.js"></script>`
    await writeFile(join(site, 'index.html'), page(tag))
    const result = await seal({ remote: { onFetchError: 'warn' } })
    expect(await readFile(join(site, 'index.html'), 'utf8')).toContain(tag)
    // The fetch failure, and what it cost: the whole origin in script-src.
    expect(result.warnings.find((w) => w.code === 'remote-fetch')!.message).toBe(
      `${cdn.origin}/error.js answered HTTP 500 Internal Server Error, so its integrity cannot be computed; its tag was left as it is; script-src allows its whole origin ${cdn.origin}, so any script that origin serves can load`,
    )
    expect(metaPolicy(await readFile(join(site, 'index.html'), 'utf8')).get('script-src')).toEqual(["'self'", cdn.origin])
  })

  it('a plain http:// file on another host is an error unless allowed; then the widening names the origin', async () => {
    const tags = '<script src="http://cdn.example.com/lib.js"></script><link rel="stylesheet" href="http://cdn.example.com/theme.css">'
    await writeFile(join(site, 'index.html'), page(tags))
    const before = await snapshot(site)
    const problems = await problemsOf(seal())
    expect(problems.map((p) => [p.code, p.file, p.line])).toEqual([
      ['remote-http', 'index.html', 1],
      ['remote-http', 'index.html', 1],
    ])
    expect(problems[0]!.message).toBe(
      'http://cdn.example.com/lib.js is loaded over plain HTTP: anyone on the network path can change it, at build time and in the browser, and its origin would go into the policy',
    )
    expect(problems[0]!.fix).toContain('remote: { allowHttp: true }')
    expect(await snapshot(site)).toEqual(before)
    expect(cdn.requests).toEqual([])
    // Allowed on purpose (no network here: remote files are not pinned).
    const result = await seal({ remote: { allowHttp: true, mode: 'off' } })
    const policy = metaPolicy(await readFile(join(site, 'index.html'), 'utf8'))
    expect(policy.get('script-src')).toEqual(["'self'", 'http://cdn.example.com'])
    expect(policy.get('style-src')).toEqual(["'self'", 'http://cdn.example.com'])
    expect(result.warnings.filter((w) => w.code === 'remote-without-integrity').map((w) => w.message)).toEqual([
      'http://cdn.example.com/lib.js is loaded from another origin without integrity; script-src allows its whole origin http://cdn.example.com, so any script that origin serves can load',
      'http://cdn.example.com/theme.css is loaded from another origin without integrity; style-src allows its whole origin http://cdn.example.com, so any stylesheet that origin serves can load',
    ])
  })

  it('non-HTTP, data: and malformed URLs are reported, never fetched', async () => {
    await writeFile(
      join(site, 'index.html'),
      page('<script src="ftp://files.example.com/a.js"></script><script src="data:text/javascript,1"></script><script src="http://[::1"></script>'),
    )
    const result = await seal({ policy: "default-src 'self'; script-src 'self' data:" })
    const warnings = result.warnings.filter((w) => w.code === 'unsupported-url').map((w) => w.message)
    expect(warnings).toEqual([
      'ftp://files.example.com/a.js uses the ftp: scheme; csp-seal leaves it to your policy',
      'data:text/javascript,1 uses the data: scheme; csp-seal leaves it to your policy',
      'http://[::1 is not a valid URL; csp-seal leaves it to your policy',
    ])
    expect(cdn.requests).toEqual([])
  })

  it('a host no policy can name exactly never goes into the policy: a * in it would be a wildcard', async () => {
    const urls = ['https://*/a.js', 'https://*.example.com/b.css', 'https://a_b.example.com/c.js', 'http://[::1]:8080/d.js', String.raw`\\&amp;`]
    await writeFile(
      join(site, 'index.html'),
      page(urls.map((url) => (url.endsWith('.css') ? `<link rel=stylesheet href="${url}">` : `<script src="${url}"></script>`)).join('')),
    )
    const result = await seal({ remote: { mode: 'off' } })
    const policy = metaPolicy(await readFile(join(site, 'index.html'), 'utf8'))
    expect(policy.get('script-src')).toEqual(["'self'"])
    expect(policy.get('style-src')).toEqual(["'self'"])
    expect(result.warnings.filter((w) => w.code === 'unsupported-url').map((w) => w.message)).toEqual([
      'https://*/a.js is on a host no policy can name exactly (*); csp-seal leaves it to your policy',
      'https://*.example.com/b.css is on a host no policy can name exactly (*.example.com); csp-seal leaves it to your policy',
      'https://a_b.example.com/c.js is on a host no policy can name exactly (a_b.example.com); csp-seal leaves it to your policy',
      'http://[::1]:8080/d.js is on a host no policy can name exactly ([::1]:8080); csp-seal leaves it to your policy',
      String.raw`\\& is on a host no policy can name exactly (&); csp-seal leaves it to your policy`,
    ])
    expect(result.warnings.filter((w) => w.code === 'remote-without-integrity')).toEqual([])
    expect(cdn.requests).toEqual([])
  })

  it('mode off: no integrity, one warning per URL, allowed by origin', async () => {
    await writeFile(join(site, 'index.html'), page(`<script src="${cdn.origin}/lib.js"></script><link rel=stylesheet href="${cdn.origin}/theme.css">`))
    const result = await seal({ remote: { mode: 'off' } })
    expect(result.warnings.filter((w) => w.code === 'remote-without-integrity')).toHaveLength(2)
    expect(metaPolicy(await readFile(join(site, 'index.html'), 'utf8')).get('script-src')).toEqual(["'self'", cdn.origin])
    expect(cdn.requests).toEqual([])
  })
})
