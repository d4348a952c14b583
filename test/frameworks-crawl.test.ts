/**
 * `csp-seal crawl` on every framework fixture (fixtures/frameworks/*), sealed by the command its README row gives
 * and served as deployed (nonces where the row uses them): it opens every page and clicks every in-app link and
 * toggle, and finds no violation and no JavaScript error, but the one a framework causes, named in the row.
 * test/frameworks.test.ts drives the same sealed copies with the fixtures' own checks.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { inParallel, listFrameworkFixtures } from './support/frameworks.js'
import { ANGULAR_CONFIG, BIN, SEALED, sealedAsTheRowSays, serveAsTheRowSays, type CrawlViolation, type SealedCase } from './support/sealed-frameworks.js'

const fixtures = listFrameworkFixtures()

/** What `csp-seal crawl` printed and reported on a sealed copy. */
interface Crawled {
  code: number
  printed: string
  report: { violations: CrawlViolation[]; errors: unknown[]; pagesOpened: number; clicks: number; cut: string | null }
  /** Pages in the sealed copy's csp-seal.json: what the crawl opens. */
  pages: number
}

const run = promisify(execFile)

/** `csp-seal crawl <dir>` with the case's config, from a folder of its own (no learned file): exit code, output, report. */
async function crawlCli(dir: string, how: SealedCase): Promise<Crawled> {
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'csp-seal-crawl-'))
  try {
    const args = [BIN, 'crawl', dir, '--report', 'crawl.json', ...(how.nonces ? ['--config', ANGULAR_CONFIG] : [])]
    const { code, printed } = await run(process.execPath, args, { cwd, env: { ...process.env, NO_COLOR: '1' } }).then(
      ({ stdout, stderr }) => ({ code: 0, printed: stdout + stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: Number(error.code ?? 1),
        printed: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    )
    const report = JSON.parse(await readFile(path.join(cwd, 'crawl.json'), 'utf8').catch(() => 'null'))
    if (!report) throw new Error(`csp-seal crawl wrote no report (exit ${code}):\n${printed}`)
    const manifest = JSON.parse(await readFile(path.join(dir, 'csp-seal.json'), 'utf8')) as { pages: Record<string, unknown> }
    return { code, printed, report, pages: Object.keys(manifest.pages).length }
  } finally {
    await rm(cwd, { recursive: true, force: true })
  }
}

describe('csp-seal crawl on the framework fixtures, sealed by the command a user runs', () => {
  const outcomes = new Map<string, Crawled | Error>()

  beforeAll(async () => {
    await inParallel(2, fixtures, async (fixture) => {
      try {
        const { dir } = await sealedAsTheRowSays(fixture)
        const server = await serveAsTheRowSays(dir, fixture)
        try {
          outcomes.set(fixture.name, await crawlCli(dir, SEALED[fixture.name]!))
        } finally {
          await server.close()
        }
      } catch (err) {
        outcomes.set(fixture.name, err instanceof Error ? err : new Error(String(err)))
      }
    })
  }, 30 * 60_000)

  it('covers every fixture', () => {
    expect(Object.keys(SEALED).sort()).toEqual(fixtures.map((f) => f.name).sort())
  })

  for (const fixture of fixtures) {
    const expected = SEALED[fixture.name]!
    it(`${fixture.name}: csp-seal crawl opens every page and clicks through it, and finds ${expected.crawlKnown ? 'only the violation the framework causes' : 'no violation'}`, () => {
      const outcome = outcomes.get(fixture.name)
      if (outcome === undefined) throw new Error(`${fixture.name} did not run`)
      if (outcome instanceof Error) throw outcome
      const { code, printed, report, pages } = outcome
      const known = expected.crawlKnown
      expect(
        report.violations.filter((v) => !known?.(v)),
        printed,
      ).toEqual([])
      expect(report.errors, printed).toEqual([])
      expect(report.cut, printed).toBeNull()
      // Every page of the manifest was opened, and the crawl clicked its way through the site.
      expect(report.pagesOpened, printed).toBe(pages)
      expect(report.clicks, printed).toBeGreaterThan(0)
      // A CI gate: exit 0 when nothing is blocked, 1 when something is (the framework's own violation, seen here).
      if (known) expect(report.violations.length, printed).toBeGreaterThan(0)
      expect(code, printed).toBe(report.violations.length ? 1 : 0)
    })
  }
})
