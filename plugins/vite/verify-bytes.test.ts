/**
 * The check after writing compares bytes: a page csp-seal wrote unchanged, pinning files written unchanged,
 * needs no parsing; only a build where something changed is checked element by element (verifyBundle), so
 * the error names the element. Real Vite 8 and Vite 7 builds.
 */
import { mkdtempSync } from 'node:fs'
import { appendFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InlineConfig, Plugin } from 'vite'
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { removeDir } from '../../test/support/sites.js'
import { mpaInput, MPA, recordingLogger, SPA, VITES, type ViteApi } from '../../test/support/vite.js'
import { verifyBundle } from '../../src/site/bundle.js'
import { cspSeal } from './index.js'

vi.mock('../../src/site/bundle.js', async (original) => {
  const actual = await original<typeof import('../../src/site/bundle.js')>()
  return { ...actual, verifyBundle: vi.fn(actual.verifyBundle) }
})
const fullChecks = vi.mocked(verifyBundle)

const work = mkdtempSync(join(tmpdir(), 'csp-seal-vite-bytes-'))
afterAll(() => removeDir(work))
beforeEach(() => {
  fullChecks.mockClear()
})

let runs = 0
function build(api: ViteApi, root: string, extra: InlineConfig = {}, plugins: Plugin[] = []) {
  return api.build({
    root,
    configFile: false,
    customLogger: recordingLogger().logger,
    logLevel: 'warn',
    cacheDir: join(work, 'vite-cache'),
    define: { 'import.meta.env.VITE_CDN_ORIGIN': JSON.stringify('https://cdn.csp-seal.invalid') },
    ...extra,
    build: { outDir: join(work, `out-${++runs}`), emptyOutDir: true, ...extra.build },
    plugins: [cspSeal({ remote: { mode: 'off' } }), ...plugins],
  })
}

for (const vite of VITES) {
  describe(`${vite.name}: the check after writing`, () => {
    it('parses nothing when every page and pinned file is on disk as sealed (SPA, MPA, base with sourcemaps)', async () => {
      const api = await vite.load()
      await build(api, SPA)
      await build(api, MPA, { build: mpaInput(vite.major) })
      await build(api, SPA, { base: '/app/', build: { cssCodeSplit: false, sourcemap: true } })
      expect(fullChecks).not.toHaveBeenCalled()
    })

    it('checks element by element once something changed', async () => {
      const api = await vite.load()
      const tamper: Plugin = {
        name: 'tamper-style-on-disk',
        async writeBundle(options) {
          await appendFile(join(options.dir!, 'index.html'), '<style>body{color:red}</style>\n')
        },
      }
      await expect(build(api, SPA, {}, [tamper])).rejects.toThrow(/index\.html:\d+:\d+: this inline <style> is not allowed by the page's policy/)
      expect(fullChecks).toHaveBeenCalledTimes(1)
    })
  })
}
