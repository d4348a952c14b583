import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parsePolicy, sealDirectory, SealError, type Manifest } from '../src/index.js'
import { copyFixture, snapshot, useTempDirs } from './support/sites.js'

const { fixture, track } = useTempDirs()

describe('sealDirectory', () => {
  it('seals every .html and .htm page, nested, and writes the manifest and header files', async () => {
    const dir = await fixture('example-site')
    const result = await sealDirectory(dir, { headers: ['netlify', 'vercel', 'nginx'] })
    const pages = result.pages.map((p) => p.file)
    expect(pages).toContain('docs/guide/index.html')
    expect(pages).toContain('legacy.htm')
    expect(result.written).toEqual(expect.arrayContaining(['csp-seal.json', '_headers', 'vercel.json', 'csp-seal.nginx.conf', 'index.html']))

    const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')) as Manifest
    expect(Object.keys(manifest.pages).sort()).toEqual([...pages].sort())
    for (const [file, page] of Object.entries(manifest.pages)) {
      const bytes = await readFile(join(dir, file))
      expect(`sha256-${(await import('node:crypto')).createHash('sha256').update(bytes).digest('base64')}`).toBe(page.digest)
      expect(() => parsePolicy(page.policy)).not.toThrow()
      expect(page.headers['Content-Security-Policy']).toBe(page.policy)
      // The meta tag is the header policy minus what a meta cannot carry.
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)" data-csp-seal>/.exec(bytes.toString())![1]
      expect(page.policy.replace(/; frame-ancestors 'self'/, '')).toBe(meta)
    }
    // Hashes never leak between pages.
    const index = manifest.pages['index.html']!
    const guide = manifest.pages['docs/guide/index.html']!
    expect(index.scriptHashes.filter((h) => guide.scriptHashes.includes(h))).toEqual([])

    const headers = await readFile(join(dir, '_headers'), 'utf8')
    expect(headers).toContain('/docs/guide/\n  Content-Security-Policy: ')
    expect(headers).toContain('/legacy.htm\n')
    const vercel = JSON.parse(await readFile(join(dir, 'vercel.json'), 'utf8'))
    expect(vercel.headers.map((h: { source: string }) => h.source)).toContain('/docs/api/reference')
    const nginx = await readFile(join(dir, 'csp-seal.nginx.conf'), 'utf8')
    expect(nginx).toContain('location = "/docs/guide/index.html" {\n    add_header Content-Security-Policy "')
  })

  it('is idempotent: a second run writes nothing and the bytes stay the same', async () => {
    const dir = await fixture('example-site')
    await sealDirectory(dir, { headers: ['netlify', 'vercel', 'nginx'] })
    const first = await snapshot(dir)
    const again = await sealDirectory(dir, { headers: ['netlify', 'vercel', 'nginx'] })
    expect(again.written).toEqual([])
    expect(again.unsealed).toEqual([])
    expect(await snapshot(dir)).toEqual(first)
  })

  it('keeps what users wrote in _headers and vercel.json outside its own entries', async () => {
    const dir = await fixture('example-site')
    await writeFile(join(dir, '_headers'), '/*\n  X-Frame-Options: DENY\n')
    await writeFile(join(dir, 'vercel.json'), JSON.stringify({ cleanUrls: true, headers: [{ source: '/api/(.*)', headers: [{ key: 'X', value: '1' }] }] }))
    await sealDirectory(dir, { headers: ['netlify', 'vercel'] })
    await sealDirectory(dir, { headers: ['netlify', 'vercel'] })
    const headers = await readFile(join(dir, '_headers'), 'utf8')
    expect(headers.startsWith('/*\n  X-Frame-Options: DENY\n# csp-seal:begin')).toBe(true)
    expect(headers.match(/csp-seal:begin/g)).toHaveLength(1)
    const vercel = JSON.parse(await readFile(join(dir, 'vercel.json'), 'utf8'))
    expect(vercel.cleanUrls).toBe(true)
    expect(vercel.headers[0].source).toBe('/api/(.*)')
  })

  it('a failing run lists every problem and leaves the folder exactly as it was', async () => {
    const dir = await fixture('bad-site')
    const before = await snapshot(dir)
    const error = await sealDirectory(dir).catch((e) => e)
    expect(error).toBeInstanceOf(SealError)
    const messages = (error as SealError).problems.map((p) => `${p.file}: ${p.code}`)
    expect(messages).toEqual(['latin1.html: not-utf8', 'missing-script.html: missing-asset'])
    expect((error as SealError).message).toMatch(/missing-script\.html:9:\d+: assets\/widget\.js resolves to "assets\/widget\.js"/)
    expect(await snapshot(dir)).toEqual(before)
  })

  it('check mode names the element that drifted and writes nothing', async () => {
    const dir = await fixture('example-site')
    await sealDirectory(dir)
    const index = join(dir, 'index.html')
    await writeFile(index, (await readFile(index, 'utf8')).replace("push('index:body-inline')", "push('index:body-inline!')"))
    await writeFile(join(dir, 'assets/app.js'), '/* changed */\n' + (await readFile(join(dir, 'assets/app.js'), 'utf8')))
    const before = await snapshot(dir)
    const result = await sealDirectory(dir, {}, { mode: 'check' })
    expect(await snapshot(dir)).toEqual(before)
    const found = result.problems.map((p) => `${p.file}:${p.line}: ${p.code}`)
    expect(found).toContain(`index.html:${lineOf(await readFile(index, 'utf8'), 'index:body-inline!')}: hash-drift`)
    expect(found.filter((f) => f.endsWith('integrity-drift')).length).toBeGreaterThan(0)
    // The changed page and asset are the causes; the manifest that no longer matches them is not blamed.
    expect(result.problems.some((p) => p.code === 'stale-output')).toBe(false)
  })

  it('dry-run plans every page and writes nothing', async () => {
    const dir = await fixture('example-site')
    const before = await snapshot(dir)
    const result = await sealDirectory(dir, {}, { mode: 'dry-run' })
    expect(result.unsealed.length).toBe(result.pages.length)
    expect(await snapshot(dir)).toEqual(before)
  })

  for (const workers of [1, 2]) {
    it(`never reads a file outside the site folder through a symlink: warns and leaves the tag alone (workers: ${workers})`, async () => {
      const dir = await fixture('example-site')
      const outside = await copyFixture('bad-site')
      track(outside)
      await rm(join(dir, 'assets/app.js'))
      await symlink(join(outside, 'assets/site.css'), join(dir, 'assets/app.js'))
      const result = await sealDirectory(dir, {}, { workers })
      const refused = result.warnings.find((w) => w.code === 'outside-site')!
      expect(refused.message).toContain(`which leads outside the site folder (it is a link to ${outside}/assets/site.css)`)
      expect(await readFile(join(dir, 'docs/guide/index.html'), 'utf8')).toMatch(/<script src="\.\.\/\.\.\/assets\/app\.js"><\/script>/)
    })
  }

  it('refuses a page over the size limit, naming it', async () => {
    const dir = await fixture('example-site')
    const error = await sealDirectory(dir, { maxPageBytes: 3000 }).catch((e) => e)
    expect((error as SealError).problems.every((p) => p.code === 'page-too-large')).toBe(true)
    expect((error as SealError).message).toMatch(/features\.html: the page is \d+ bytes, over the 3000-byte limit/)
  })

  it('cleans up the staging folder a killed run left behind', async () => {
    const dir = await fixture('example-site')
    await mkdir(join(dir, '.csp-seal-staging-0badc0ffee00/docs'), { recursive: true })
    await writeFile(join(dir, '.csp-seal-staging-0badc0ffee00/docs/half.html'), '<p>half')
    await sealDirectory(dir)
    expect([...(await snapshot(dir)).keys()].filter((f) => f.includes('staging'))).toEqual([])
  })

  it('worker threads give the same bytes, manifest and warnings as one thread', async () => {
    const one = await fixture('example-site')
    const two = await fixture('example-site')
    const config = { headers: ['netlify', 'vercel', 'nginx'] as const, eventHandlers: 'hash' as const }
    const a = await sealDirectory(one, { ...config, headers: [...config.headers] }, { workers: 1 })
    const b = await sealDirectory(two, { ...config, headers: [...config.headers] }, { workers: 2 })
    expect(await snapshot(two)).toEqual(await snapshot(one))
    expect(b.pages).toEqual(a.pages.map((p) => ({ ...p })))
    expect(b.warnings).toEqual(a.warnings)
    expect(b.written).toEqual(a.written)
  })

  it('worker threads report every problem of a failing run and write nothing', async () => {
    const dir = await fixture('bad-site')
    const before = await snapshot(dir)
    const error = await sealDirectory(dir, {}, { workers: 2 }).catch((e) => e)
    expect((error as SealError).problems.map((p) => `${p.file}: ${p.code}`)).toEqual(['latin1.html: not-utf8', 'missing-script.html: missing-asset'])
    expect(await snapshot(dir)).toEqual(before)
  })

  it('reports a folder that does not exist', async () => {
    await expect(sealDirectory('/nonexistent/site')).rejects.toThrow(/\/nonexistent\/site is not a folder/)
  })
})

function lineOf(text: string, needle: string): number {
  return text.slice(0, text.indexOf(needle)).split('\n').length
}
