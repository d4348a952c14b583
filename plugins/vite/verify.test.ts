/**
 * After sealing, csp-seal re-reads what was written and fails the build, naming the file and the element,
 * when a later plugin changed a byte that a hash or an integrity value pins. Real Vite 8 and Vite 7 builds.
 */
import { mkdtempSync } from 'node:fs'
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Plugin } from 'vite'
import { afterAll, describe, expect, it } from 'vitest'
import type { CspSealConfig } from '../../src/config.js'
import { copyFixture, removeDir } from '../../test/support/sites.js'
import { mpaInput, MPA, recordingLogger, SPA, VITES, type ViteApi } from '../../test/support/vite.js'
import { cspSeal } from './index.js'

const work = mkdtempSync(join(tmpdir(), 'csp-seal-vite-verify-'))
afterAll(() => removeDir(work))

let runs = 0
async function build(api: ViteApi, plugins: Plugin[], seal: CspSealConfig = {}, root = SPA, extra: Record<string, unknown> = {}) {
  const out = join(work, `out-${++runs}`)
  const log = recordingLogger()
  const seal2 = { ...seal, remote: { mode: 'off' as const } }
  const result = api.build({
    root,
    configFile: false,
    customLogger: log.logger,
    logLevel: 'warn',
    cacheDir: join(work, 'vite-cache'),
    define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify('https://cdn.csp-seal.invalid') },
    build: { outDir: out, emptyOutDir: true },
    ...extra,
    plugins: [cspSeal(seal2), ...plugins],
  })
  return { out, log, result }
}

/** The error a failed build rejects with, as text. */
async function failure(result: Promise<unknown>): Promise<string> {
  try {
    await result
  } catch (error) {
    return String((error as Error).message ?? error)
  }
  throw new Error('the build succeeded, but it should have failed')
}

async function entryChunk(out: string): Promise<string> {
  const files = await readdir(join(out, 'assets'))
  return `assets/${files.find((f) => /^index-.*\.js$/.test(f))!}`
}

for (const vite of VITES) {
  describe(`${vite.name}: verify after write`, () => {
    it('fails when a plugin edits an inline script of the written page (writeBundle)', async () => {
      const api = await vite.load()
      let outDir = ''
      const tamper: Plugin = {
        name: 'tamper-html-on-disk',
        async writeBundle(options) {
          outDir = options.dir!
          const file = join(options.dir!, 'index.html')
          await writeFile(file, (await readFile(file, 'utf8')).replace("window.__ran = ['spa:head-inline']", "window.__ran = ['spa:head-inline', 'x']"))
        },
      }
      const { result } = await build(api, [tamper])
      const message = await failure(result)
      expect(outDir).not.toBe('')
      expect(message).toContain('csp-seal: the sealed build in')
      expect(message).toContain('was changed after sealing')
      expect(message).toMatch(/index\.html:\d+:\d+: this inline <script> is not allowed by the page's policy: it changed after sealing/)
      // The element shown is the changed one, with the start of its text.
      expect(message).toContain("(<script>window.__ran = ['spa:head-inline', 'x']")
    })

    it('fails when a plugin rewrites a chunk the page pins by integrity (closeBundle)', async () => {
      const api = await vite.load()
      let entry = ''
      let dir = ''
      const tamper: Plugin = {
        name: 'tamper-chunk-late',
        async writeBundle(options) {
          dir = options.dir!
          entry = await entryChunk(dir)
        },
        async closeBundle() {
          // As a late "optimizer" would: after every writeBundle hook, on the file on disk.
          await appendFile(join(dir, entry), '\n/* rewritten */\n')
        },
      }
      const { result } = await build(api, [tamper])
      const message = await failure(result)
      expect(entry).toMatch(/^assets\/index-/)
      expect(message).toContain(`integrity of /${entry} no longer matches ${entry}`)
      expect(message).toMatch(/index\.html:\d+:\d+: integrity of .* \(<script type="module" crossorigin src="\/assets\/index-/)
    })

    it('fails when a later generateBundle hook changes the sealed HTML in memory', async () => {
      const api = await vite.load()
      const tamper: Plugin = {
        name: 'tamper-html-in-bundle',
        enforce: 'post',
        generateBundle: {
          order: 'post',
          handler(_options, bundle) {
            const page = bundle['index.html']
            if (page?.type === 'asset')
              page.source = String(page.source).replace('#inline-styled{', '#inline-styled {').replace('#inline-styled { color', '#inline-styled {  color')
          },
        },
      }
      const { result } = await build(api, [tamper])
      const message = await failure(result)
      expect(message).toMatch(/index\.html:\d+:\d+: this inline <style> is not allowed by the page's policy: it changed after sealing/)
    })

    it('fails when a page changed outside any hash: its manifest digest would be stale', async () => {
      const api = await vite.load()
      const tamper: Plugin = {
        name: 'append-comment',
        async writeBundle(options) {
          await appendFile(join(options.dir!, 'index.html'), '<!-- deployed -->\n')
        },
      }
      const message = await failure((await build(api, [tamper])).result)
      expect(message).toContain('index.html: the page changed after sealing (its manifest digest is stale), though every hash still matches')
    })

    it('passes when later plugins touch nothing the pages pin (a lazy chunk, a new file)', async () => {
      const api = await vite.load()
      const harmless: Plugin = {
        name: 'harmless',
        async writeBundle(options) {
          const lazy = (await readdir(join(options.dir!, 'assets'))).find((f) => /^lazy2-.*\.js$/.test(f))!
          await appendFile(join(options.dir!, 'assets', lazy), '\n/* fine: allowed by origin, not pinned */\n')
          await writeFile(join(options.dir!, 'robots.txt'), 'User-agent: *\n')
        },
      }
      const { out, result } = await build(api, [harmless])
      await result
      const manifest = JSON.parse(await readFile(join(out, 'csp-seal.json'), 'utf8'))
      expect(Object.keys(manifest.pages)).toEqual(['index.html'])
    })

    it("emits the header files next to the pages, merged with the project's own public/_headers", async () => {
      const api = await vite.load()
      const root = await copyFixture('vite-spa')
      try {
        await writeFile(join(root, 'public/_headers'), '/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n')
        const { out, result } = await build(api, [], { headers: ['netlify', 'nginx'] }, root)
        await result
        const headers = await readFile(join(out, '_headers'), 'utf8')
        expect(headers).toContain('/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n')
        expect(headers).toMatch(/\/index\.html\n {2}Content-Security-Policy: default-src 'self'; script-src 'self' 'sha256-/)
        expect(await readFile(join(out, 'csp-seal.nginx.conf'), 'utf8')).toContain('location = "/index.html" {')
      } finally {
        await removeDir(root)
      }
    })

    it('refuses a policy that would block the chunks Vite loads at run time, naming them', async () => {
      const api = await vite.load()
      const { result } = await build(api, [], { policy: "default-src 'none'; style-src 'self'; img-src data:" })
      const message = await failure(result)
      expect(message).toContain('csp-seal: the sealed pages would block the chunks Vite loads at run time')
      expect(message).toMatch(
        /index\.html: 3 chunks that Vite loads at run time \(lazy import\(\), modulepreload, imports of the entry: assets\/dep-[\w-]+\.js, assets\/lazy-[\w-]+\.js, assets\/lazy2-[\w-]+\.js\) are blocked by script-src, which has neither 'self' nor 'strict-dynamic'/,
      )
      expect(message).toContain("fix: add 'self' to script-src")
    })

    it('accepts a hash-only policy when every chunk a page needs is named in it (entry and modulepreload)', async () => {
      const api = await vite.load()
      const { out, result } = await build(api, [], { policy: "default-src 'none'; style-src 'self'; img-src data:" }, MPA, {
        build: { outDir: join(work, `mpa-${vite.major}`), ...mpaInput(vite.major) },
      })
      await result
      const html = await readFile(join(work, `mpa-${vite.major}`, 'index.html'), 'utf8')
      const preload = /<link rel="modulepreload" crossorigin href="[^"]+" integrity="(sha384-[^"]+)">/.exec(html)![1]
      // The shared chunk is allowed by the hash of its modulepreload; the entry's import then finds it loaded.
      expect(html).toContain(`'${preload}'`)
      expect(out).toBeDefined()
    })
  })
}
