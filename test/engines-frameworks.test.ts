/**
 * The real framework fixtures (fixtures/frameworks/*), sealed as the README's framework table says, in Firefox and
 * WebKit: every page and deep link of a fixture loaded directly, every widget it lists used, every in-app navigation
 * it lists clicked and arrived at (in the same document where the fixture has a client-side router), with no CSP
 * violation but the one a framework causes (named in the table's row, test/support/sealed-frameworks.ts).
 *
 * Pages are loaded through the reporting proxy, so both engines report what the page's policies block the same way
 * (`report-uri`). Chromium's proof is test/frameworks.test.ts, which drives the same sealed copies there more
 * strictly (the rendered text and computed styles against the unsealed build, JavaScript errors): running this file
 * in Chromium as well would repeat it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { documentWentAway, forEachEngine } from './support/engines/index.js'
import { startReportingProxy, type ReportingProxy } from './support/engines/reporting-proxy.js'
import { supportTable } from './support/engines/support-table.js'
import { visit, type PageVisit } from './support/engines/visit.js'
import { listFrameworkFixtures, sitePath, type FrameworkFixture, type SiteServer } from './support/frameworks.js'
import { SEALED, sealedAsTheRowSays, serveAsTheRowSays } from './support/sealed-frameworks.js'

const fixtures = listFrameworkFixtures()
const table = supportTable('test/engines-frameworks.test.ts')

/** A violation a framework itself causes, as the proxy's reports show it (`<directive> <blocked URI>`), by fixture. */
const KNOWN: Record<string, RegExp> = {
  // Astro's ClientRouter inserts an empty `data:` module script after a client-side navigation (see the table).
  astro: /^script-src-elem data(:|$)/,
}

/**
 * How a server-rendered page shows that its framework has taken over (its markup is there, and `ready` matches,
 * before the handlers are): clicking earlier would reload the page or do nothing. Checked before every click.
 * The other fixtures' `ready` selectors already match only once their framework has run.
 */
const HYDRATED: Record<string, () => boolean> = {
  // Vue's mount() (createSSRApp's too) sets __vue_app__ on the container once the app has hydrated it.
  nuxt: () => Boolean((document.querySelector('#__nuxt') as { __vue_app__?: unknown } | null)?.__vue_app__),
  vitepress: () => Boolean((document.querySelector('#app') as { __vue_app__?: unknown } | null)?.__vue_app__),
  vue: () => Boolean((document.querySelector('#app') as { __vue_app__?: unknown } | null)?.__vue_app__),
  // SvelteKit's router sets manual scroll restoration as it starts, after hydrating the page.
  sveltekit: () => history.scrollRestoration === 'manual',
  // Astro's ClientRouter does the same as it starts; an island drops its `ssr` attribute once hydrated.
  astro: () => history.scrollRestoration === 'manual' && document.querySelector('astro-island[ssr]') === null,
}

interface Served {
  proxy: ReportingProxy
  server: SiteServer
}

const served = new Map<string, Served>()

beforeAll(async () => {
  for (const fixture of fixtures) {
    const server = await serveAsTheRowSays((await sealedAsTheRowSays(fixture)).dir, fixture)
    served.set(fixture.name, { server, proxy: await startReportingProxy(server.origin) })
  }
})

afterAll(async () => {
  for (const { proxy, server } of served.values()) {
    await proxy.close()
    await server.close()
  }
})

/** What the page's policies blocked, less what the fixture's framework is known to cause. */
function unexpected(fixture: FrameworkFixture, v: PageVisit): string[] {
  return v.blocked.filter((entry) => !KNOWN[fixture.name]?.test(entry))
}

/** Waits until the selector matches in the page. */
function waitForSelector(v: PageVisit, selector: string): Promise<boolean> {
  return v.waitFor((s: string) => document.querySelector(s) !== null, selector)
}

/** Clicks the element the selector matches, once the page's framework has hydrated it. */
async function click(v: PageVisit, fixture: FrameworkFixture, selector: string): Promise<void> {
  const hydrated = HYDRATED[fixture.name]
  if (hydrated) await v.waitFor(hydrated)
  await waitForSelector(v, selector)
  await v.evaluate((s: string) => (document.querySelector(s) as HTMLElement).click(), selector)
}

/**
 * Waits until the page shows `path` and `selector`. Where a click loads a new document, a poll can meet the old one
 * being torn down: that poll is simply made again.
 */
async function waitForArrival(v: PageVisit, path: string, selector: string): Promise<void> {
  for (;;) {
    try {
      await v.waitFor((p: string, s: string) => location.pathname === p && document.querySelector(s) !== null, path, selector)
      return
    } catch (error) {
      if ((error as Error).message.includes('still waiting') || !documentWentAway(error)) throw error
    }
  }
}

it('every fixture has a row in the framework table', () => {
  expect(fixtures.map((f) => f.name).sort()).toEqual(Object.keys(SEALED).sort())
})

forEachEngine(
  (engine) => {
    describe('framework fixtures, sealed', () => {
      const allFixtures = table.recordAfter(fixtures.length, 'framework-fixtures', 'yes')
      for (const fixture of fixtures) {
        it(`${fixture.name} (${fixture.framework} ${fixture.version}): pages, widgets and navigations work with no violation${KNOWN[fixture.name] ? ' but the one the framework causes' : ''}`, async () => {
          const { proxy } = served.get(fixture.name)!
          const problems: string[] = []

          for (const page of new Set([...fixture.pages, ...fixture.deepLinks, ...fixture.interactions.map((i) => i.page)])) {
            const v = await visit(engine(), proxy, sitePath(fixture, page))
            try {
              await waitForSelector(v, fixture.ready)
              for (const interaction of fixture.interactions.filter((i) => i.page === page)) {
                await click(v, fixture, interaction.click)
                await waitForSelector(v, interaction.expect.selector)
              }
              await v.settle()
              for (const entry of unexpected(fixture, v)) problems.push(`load ${page}: blocked ${entry}\n${v.describe()}`)
            } finally {
              await v.close()
            }
          }

          for (const nav of fixture.navigations) {
            const v = await visit(engine(), proxy, sitePath(fixture, nav.from))
            try {
              await waitForSelector(v, fixture.ready)
              // A mark on the window survives a client-side navigation and is gone after a document load.
              await v.evaluate(() => {
                ;(window as unknown as { __sameDocument: boolean }).__sameDocument = true
              })
              await click(v, fixture, nav.click)
              await waitForArrival(v, sitePath(fixture, nav.expect.path), nav.expect.selector)
              const sameDocument = await v.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument === true)
              if (sameDocument !== fixture.clientRouter)
                problems.push(`navigate ${nav.from} -> ${nav.expect.path}: ${sameDocument ? 'stayed in the document' : 'loaded a new document'}`)
              await v.settle()
              for (const entry of unexpected(fixture, v)) problems.push(`navigate ${nav.from} -> ${nav.expect.path}: blocked ${entry}\n${v.describe()}`)
            } finally {
              await v.close()
            }
          }

          expect(problems, `${engine().version}, ${fixture.name}`).toEqual([])
          allFixtures(engine())
        })
      }
    })
  },
  ['firefox', 'webkit'],
)

table.declareCheck()
