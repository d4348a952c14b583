/**
 * Real framework builds (fixtures/frameworks/*), in real Chromium, served by a static host on 127.0.0.1.
 *
 * Unsealed first: every page loads and renders, every in-app navigation arrives (in the same document wherever
 * the fixture claims a client-side router), every widget works, every marked style resolves, and nothing throws.
 * This proves the fixtures and the harness; the harness notices a reload; the host answers as the fixtures expect.
 *
 * Then each fixture copied and sealed by the command a user runs (`csp-seal <folder>`, plus only what the README's
 * framework table says that framework needs), and driven the same way: zero CSP violations and no errors on any
 * load or client-side navigation, the same rendered text and marked computed styles as the unsealed run, and an
 * inline script injected into a sealed page stays blocked. The summary names the framework and the scope.
 * test/frameworks-crawl.test.ts runs `csp-seal crawl` on the same sealed copies.
 */
import { access, readFile, readdir } from 'node:fs/promises'
import { constants } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser } from './support/browser.js'
import { supportTable, type EngineRun } from './support/engines/support-table.js'
import {
  describeProblems,
  exerciseFixture,
  inParallel,
  injectInlineScript,
  listFrameworkFixtures,
  serveSite,
  type FixtureRun,
  type FrameworkFixture,
  type Injection,
} from './support/frameworks.js'
import { printedPolicyFix, SEALED, sealedAsTheRowSays, serveAsTheRowSays } from './support/sealed-frameworks.js'

const fixtures = listFrameworkFixtures()
/** This file proves docs/browsers.md's framework row in Chromium (test/engines-frameworks.test.ts in the others). */
const table = supportTable('test/frameworks.test.ts')
const byName = (name: string): FrameworkFixture => {
  const f = fixtures.find((x) => x.name === name)
  if (!f) throw new Error(`fixtures/frameworks/${name} is missing`)
  return f
}

/**
 * All fixtures run once, before the tests read their results. A broken page waits out several hang guards
 * before its run returns; this only stops runs that never do.
 */
const ALL_RUNS_TIMEOUT = 30 * 60_000

/** SvelteKit's /about runs no script, so nothing handles a click on its links: the browser loads a new document. */
function reloadFromStaticPage(sveltekit: FrameworkFixture): FrameworkFixture {
  return {
    ...sveltekit,
    clientRouter: false,
    pages: [],
    deepLinks: [],
    interactions: [],
    styles: [],
    navigations: [{ from: '/about', click: "header nav a[href$='/widgets']", expect: { path: '/widgets', selector: 'button.toggle' } }],
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
}

describe('framework fixtures: layout and fixture.json', () => {
  it('lists the fixtures', () => {
    expect(fixtures.map((f) => f.name)).toEqual(expect.arrayContaining(['astro', 'nuxt', 'sveltekit', 'vite-react', 'vitepress', 'vue']))
  })

  for (const f of fixtures) {
    it(`${f.name}: a regenerate script, an unsealed site, and a description that matches the site`, async () => {
      await access(path.join(f.dir, 'regenerate.sh'), constants.X_OK)
      const files = await filesUnder(f.siteDir)
      expect(files.filter((x) => /\.html?$/.test(x)).length, 'HTML pages in site/').toBeGreaterThan(0)
      expect(files, 'site/ is the unsealed build').not.toContain('csp-seal.json')
      expect(
        files.filter((x) => /\.map$/.test(x)),
        'no sourcemaps committed',
      ).toEqual([])

      expect(f.pages.length).toBeGreaterThan(0)
      expect(f.styles.length, 'marked styles to compare sealed and unsealed').toBeGreaterThan(0)
      if (f.clientRouter) expect(f.navigations.length, 'client-side navigations to follow').toBeGreaterThan(0)
      if (f.fallback !== null) expect(files).toContain(f.fallback)
      else expect(f.deepLinks, 'deep links need a fallback').toEqual([])
      for (const link of f.deepLinks) {
        const rel = link.slice(1).replace(/\/$/, '')
        for (const candidate of [rel, `${rel}.html`, `${rel}/index.html`]) {
          expect(files, `${link} is a client route, not a file`).not.toContain(candidate)
        }
      }
      for (const origin of f.external) expect(new URL(origin).origin).toBe(origin)

      if (f.projectDir) {
        const project = await readdir(f.projectDir)
        expect(project).toEqual(expect.arrayContaining(['package.json', 'package-lock.json']))
        expect(project).not.toContain('node_modules')
        const pkg = JSON.parse(await readFile(path.join(f.projectDir, 'package.json'), 'utf8')) as Record<string, unknown>
        expect(pkg.scripts, 'project/package.json has a build script').toBeTruthy()
      }
    })
  }
})

/** Each fixture's unsealed run (or what stopped it), by fixture name; `reload` is the harness's own check. */
const runs = new Map<string, FixtureRun | Error>()

function runOf(key: string): FixtureRun {
  const run = runs.get(key)
  if (run === undefined) throw new Error(`${key} did not run`)
  if (run instanceof Error) throw run
  return run
}

describe('framework fixtures, unsealed, in Chromium', () => {
  beforeAll(async () => {
    const browser = await launchBrowser()
    try {
      const sveltekit = byName('sveltekit')
      const jobs = [
        ...fixtures.map((f) => ({ key: f.name, fixture: f, site: f })),
        { key: 'reload', fixture: reloadFromStaticPage(sveltekit), site: sveltekit },
      ]
      await inParallel(2, jobs, async ({ key, fixture, site }) => {
        const server = await serveSite(site.siteDir, site)
        try {
          runs.set(key, await exerciseFixture(browser, fixture, server))
        } catch (err) {
          runs.set(key, err instanceof Error ? err : new Error(String(err)))
        } finally {
          await server.close()
        }
      })
    } finally {
      await browser.close()
    }
  }, ALL_RUNS_TIMEOUT)

  for (const f of fixtures) {
    it(`${f.name} (${f.framework} ${f.version}): pages load, navigations arrive${f.clientRouter ? ' in the same document' : ''}, widgets work, no errors`, () => {
      const run = runOf(f.name)
      const problems = describeProblems(run)
      const info = JSON.stringify({ problems, run }, null, 2)

      for (const page of run.pages) {
        expect(page.status, `${page.path}\n${info}`).toBe(200)
        expect(page.ready, `${page.path}: ready selector\n${info}`).toBe(true)
        expect(page.text.trim(), `${page.path}: rendered text`).not.toBe('')
        const expectedVia = f.deepLinks.includes(page.path) ? ['fallback'] : ['file', 'clean-url']
        expect(expectedVia, `${page.path} answered by ${JSON.stringify(page.served)}`).toContain(page.served?.via)
      }
      expect(run.navigations.length).toBe(f.navigations.length)
      for (const nav of run.navigations) {
        const step = `${nav.from} -> ${nav.expect.path}`
        expect(nav.arrived, `${step}: arrived\n${info}`).toBe(true)
        expect(nav.clientSide, `${step}: ${f.clientRouter ? 'client-side' : 'a new document'}\n${info}`).toBe(f.clientRouter)
        expect(nav.text.trim(), `${step}: rendered text`).not.toBe('')
      }
      expect(run.interactions.length).toBe(f.interactions.length)
      for (const i of run.interactions) expect(i.done, `${i.page} ${i.click}\n${info}`).toBe(true)
      expect(run.styles.length).toBe(f.styles.length)
      for (const s of run.styles) expect(s.value, `${s.page} ${s.selector} { ${s.property} }\n${info}`).not.toBeNull()
      expect(problems, info).toEqual([])
    })
  }

  it("the harness tells a reload from a client-side navigation (SvelteKit's page without JavaScript links by reload)", () => {
    const run = runOf('reload')
    const [nav] = run.navigations
    expect(nav?.arrived, JSON.stringify(run, null, 2)).toBe(true)
    expect(nav?.clientSide).toBe(false)
    expect(nav?.documentRequests).toEqual(['/widgets'])
    expect(describeProblems(run)).toEqual([])
  })
})

describe('framework fixtures: the static host', () => {
  async function get(origin: string, urlPath: string) {
    const res = await fetch(origin + urlPath, { redirect: 'manual' })
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
  }

  it('answers deep links with the fallback, clean URLs with their file, unknown paths with 404.html or 404', async () => {
    const spa = byName('vite-react')
    const docs = byName('vitepress')
    const nuxt = byName('nuxt')
    const servers = await Promise.all([serveSite(spa.siteDir, spa), serveSite(docs.siteDir, docs), serveSite(nuxt.siteDir, nuxt)])
    const [spaServer, docsServer, nuxtServer] = servers
    try {
      const index = await readFile(path.join(spa.siteDir, 'index.html'), 'utf8')
      const deep = await get(spaServer!.origin, '/about/deeper?x=1')
      expect(deep).toEqual({ status: 200, type: 'text/html; charset=utf-8', body: index })
      expect(spaServer!.requests.at(-1)).toMatchObject({ file: 'index.html', via: 'fallback' })
      const script = (await readdir(path.join(spa.siteDir, 'assets'))).find((x) => x.endsWith('.js'))!
      expect((await get(spaServer!.origin, `/assets/${script}`)).type).toBe('text/javascript; charset=utf-8')

      const about = await get(nuxtServer!.origin, '/about')
      expect(about.status).toBe(200)
      expect(about.body).toBe(await readFile(path.join(nuxt.siteDir, 'about', 'index.html'), 'utf8'))
      expect(nuxtServer!.requests.at(-1)).toMatchObject({ file: 'about/index.html', via: 'clean-url' })
      expect((await get(nuxtServer!.origin, '/no-such-page')).status).toBe(404)

      const missing = await get(docsServer!.origin, '/no-such-page')
      expect(missing.status).toBe(404)
      expect(missing.body).toBe(await readFile(path.join(docs.siteDir, '404.html'), 'utf8'))
      expect(docsServer!.requests.at(-1)).toMatchObject({ file: '404.html', via: 'not-found' })
    } finally {
      await Promise.all(servers.map((s) => s.close()))
    }
  })

  it('serves under a base path only, and nothing outside the site', async () => {
    const nuxt = byName('nuxt')
    const server = await serveSite(nuxt.siteDir, { base: '/docs/', fallback: null })
    try {
      expect((await get(server.origin, '/docs/about')).status).toBe(200)
      expect(server.url('/about')).toBe(`${server.origin}/docs/about`)
      expect((await get(server.origin, '/about')).status).toBe(404)
      expect((await get(server.origin, '/docs/%2e%2e/fixture.json')).status).toBe(404)
      expect((await get(server.origin, '/docs/..%2ffixture.json')).status).toBe(400)
    } finally {
      await server.close()
    }
  })
})

interface SealedOutcome {
  sealed: FixtureRun
  /** What `csp-seal <folder>` printed, and then what the run with the user's additions printed. */
  printed: string
  summary: string
  /** What an inline script injected into the sealed home page did. */
  injected: Injection
}

describe('framework fixtures sealed by the command a user runs, in Chromium', () => {
  const sealedFixtures = fixtures.filter((f) => f.name in SEALED)
  const outcomes = new Map<string, SealedOutcome | Error>()
  const chromium: EngineRun = { name: 'chromium', version: 'not launched' }
  const allFixtures = table.recordAfter(sealedFixtures.length, 'framework-fixtures', 'yes')

  beforeAll(async () => {
    const browser = await launchBrowser()
    chromium.version = `Chromium ${browser.version()}`
    try {
      await inParallel(2, sealedFixtures, async (fixture) => {
        try {
          const { dir: served, printed, summary } = await sealedAsTheRowSays(fixture)
          const server = await serveAsTheRowSays(served, fixture)
          try {
            const sealed = await exerciseFixture(browser, fixture, server)
            const injected = await injectInlineScript(browser, server.url(fixture.pages[0]!), fixture.ready)
            outcomes.set(fixture.name, { sealed, printed, summary, injected })
          } finally {
            await server.close()
          }
        } catch (err) {
          outcomes.set(fixture.name, err instanceof Error ? err : new Error(String(err)))
        }
      })
    } finally {
      await browser.close()
    }
  }, ALL_RUNS_TIMEOUT)

  it('covers every fixture', () => {
    expect(Object.keys(SEALED).sort()).toEqual(fixtures.map((f) => f.name).sort())
  })

  for (const fixture of sealedFixtures) {
    const expected = SEALED[fixture.name]!
    it(`${fixture.name} (${fixture.framework} ${fixture.version}): no violation or error on any load or navigation${expected.known ? ' but the one the framework causes' : ''}, the same text and styles as unsealed, an injected script blocked`, () => {
      const outcome = outcomes.get(fixture.name)
      if (outcome === undefined) throw new Error(`${fixture.name} did not run`)
      if (outcome instanceof Error) throw outcome
      const unsealed = runOf(fixture.name)
      const { sealed, summary, injected } = outcome
      expect(summary).toContain(`scope           ${expected.scope} (${expected.framework}`)
      if (expected.args === printedPolicyFix) {
        // The default run reported what the default policy blocks; the run with its fix has nothing left to report.
        expect(outcome.printed).toMatch(/blocked-resource ×\d+/)
        expect(summary).not.toContain('blocked-resource')
      }

      const problems = describeProblems(sealed)
      const known = expected.known
      expect(
        problems.filter((line) => !known?.test(line)),
        summary,
      ).toEqual([])
      // A known violation is named only where the framework still causes it: it is seen here.
      if (known) expect(problems.length).toBeGreaterThan(0)

      expect(sealed.pages.map((p) => [p.path, p.ready, p.text])).toEqual(unsealed.pages.map((p) => [p.path, p.ready, p.text]))
      expect(sealed.navigations.map((n) => [n.expect.path, n.arrived, n.clientSide, n.text])).toEqual(
        unsealed.navigations.map((n) => [n.expect.path, n.arrived, n.clientSide, n.text]),
      )
      expect(sealed.navigations.every((n) => n.arrived && n.clientSide === fixture.clientRouter)).toBe(true)
      expect(sealed.interactions.map((i) => [i.page, i.click, i.done])).toEqual(unsealed.interactions.map((i) => [i.page, i.click, i.done]))
      expect(sealed.interactions.every((i) => i.done)).toBe(true)
      expect(sealed.styles.map((s) => [s.page, s.selector, s.property, s.value])).toEqual(unsealed.styles.map((s) => [s.page, s.selector, s.property, s.value]))
      expect(sealed.styles.every((s) => s.value !== null)).toBe(true)

      expect(injected.ran, injected.details).toBe(false)
      expect(injected.blocked, injected.details).toBe(true)
      allFixtures(chromium)
    })
  }
})

table.declareCheck()
