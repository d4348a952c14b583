/**
 * A build that seals nothing says so: real Vite 8 and Vite 7 builds without a page (a library build, a server
 * build, an entry without HTML) print a warning naming the reason and the CLI command, and still succeed. A build
 * of a framework that renders its pages after the Vite bundle (recognised by its plugins' names) fails with a
 * message naming the framework and what to use instead. Real SvelteKit and VitePress builds: `npm run test:frameworks`.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir } from '../../test/support/sites.js'
import { recordingLogger, tempDir, VITES } from '../../test/support/vite.js'
import { cspSeal } from './index.js'

let work: string
beforeAll(async () => {
  work = await tempDir('sealed-nothing')
  await mkdir(join(work, 'src'))
  await writeFile(join(work, 'src', 'lib.js'), 'export const answer = () => 42\n')
})
afterAll(() => removeDir(work))

for (const { name, load } of VITES) {
  describe(name, () => {
    const cases = [
      {
        kind: 'library',
        build: { lib: { entry: 'src/lib.js', formats: ['es'], fileName: 'lib' } },
        reason: 'this is a library build (build.lib), which writes no page',
      },
      { kind: 'server', build: { ssr: 'ENTRY' }, reason: 'this is a server build (build.ssr), which writes no page' },
      { kind: 'script-only', build: { rollupOptions: { input: 'ENTRY' }, rolldownOptions: { input: 'ENTRY' } }, reason: 'the bundle holds no .html page' },
    ]
    for (const c of cases) {
      it(`a ${c.kind} build warns that it sealed nothing, with the reason and the CLI command`, async () => {
        const vite = await load()
        const log = recordingLogger()
        const outDir = join(work, `${name.replace(' ', '')}-${c.kind}`)
        await vite.build({
          root: work,
          configFile: false,
          logLevel: 'warn',
          customLogger: log.logger,
          build: JSON.parse(JSON.stringify({ outDir, emptyOutDir: true, ...c.build }).replaceAll('"ENTRY"', JSON.stringify(join(work, 'src', 'lib.js')))),
          plugins: [cspSeal()],
        })
        const warnings = log.warnings.filter((w) => w.includes('csp-seal'))
        expect(warnings, log.lines.join('\n')).toHaveLength(1)
        expect(warnings[0]).toContain('csp-seal (sealed-nothing): sealed nothing')
        expect(warnings[0]).toContain(c.reason)
        expect(warnings[0]).toContain(`npx csp-seal ${outDir}`)
        // The build itself is untouched: its files are written, no manifest.
        const files = await readdir(outDir, { recursive: true })
        expect(
          files.some((f) => /\.[mc]?js$/.test(f)),
          files.join(', '),
        ).toBe(true)
        expect(files).not.toContain('csp-seal.json')
      })
    }

    it('a build with pages says nothing of the kind', async () => {
      const vite = await load()
      const log = recordingLogger()
      const root = join(work, `${name.replace(' ', '')}-page`)
      await mkdir(root, { recursive: true })
      await writeFile(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>t</title><script type="module">console.log(1)</script>\n')
      await vite.build({ root, configFile: false, logLevel: 'info', customLogger: log.logger, build: { outDir: join(root, 'dist') }, plugins: [cspSeal()] })
      expect(log.lines.join('\n')).toContain('sealed 1 page')
      expect(log.warnings.join('\n')).not.toContain('sealed nothing')
    })

    // Astro's and Nuxt's Vite plugins carry these prefixes; their pages are rendered after the Vite bundle.
    for (const [framework, plugin, fix] of [
      ['Astro', 'astro:build', 'csp-seal/astro'],
      ['Nuxt', 'nuxt:meta', 'npx csp-seal .output/public'],
    ] as const) {
      it(`a ${framework} build (plugin ${plugin}) fails with a message naming ${framework} and ${fix}`, async () => {
        const vite = await load()
        const build = vite.build({
          root: work,
          configFile: false,
          logLevel: 'silent',
          build: { outDir: join(work, 'fw'), lib: { entry: 'src/lib.js', formats: ['es'], fileName: 'lib' } },
          plugins: [{ name: plugin }, cspSeal()],
        })
        await expect(build).rejects.toThrow(new RegExp(`cannot seal this ${framework} build[\\s\\S]*framework-html[\\s\\S]*${fix.replace(/[./]/g, '\\$&')}`))
      })
    }
  })
}
