/**
 * How each framework fixture is sealed and served: the rows of the README's framework table, shared by the tests
 * that drive the sealed fixtures (test/frameworks.test.ts in Chromium, test/engines-frameworks.test.ts in Firefox
 * and WebKit, test/frameworks-crawl.test.ts with `csp-seal crawl`). A fixture is sealed by the command a user runs,
 * `csp-seal <folder>`, plus only what its row says, once per test run.
 */
import { execFile } from 'node:child_process'
import { renameSync, writeFileSync } from 'node:fs'
import { cp, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { inject } from 'vitest'
import { serveSite, serveWithNonces, type FrameworkFixture, type SiteServer } from './frameworks.js'
import './sealed-frameworks-folder.js'

export const BIN = new URL('../../dist/src/cli/bin.js', import.meta.url).pathname

/** A violation as `csp-seal crawl` reports it. */
export interface CrawlViolation {
  directive: string
  blocked: string
  page: string
}

/** How a fixture is sealed and served, and what its summary names: the rows of the README's framework table. */
export interface SealedCase {
  framework: string
  scope: 'page' | 'site'
  /** What the user adds to `csp-seal <folder>`, given what `csp-seal <folder>` alone printed. */
  args?: (printed: string) => string[]
  /** Served by csp-seal's Node middleware with a fresh nonce per response, instead of a static host. */
  nonces?: boolean
  /**
   * A violation the framework itself causes and that no policy short of a weaker one removes, matched against
   * `describeProblems` lines; the README's table names it. Nothing else may appear.
   */
  known?: RegExp
  /** The violation a framework causes, as `csp-seal crawl` reports it (the crawl opens pages the harness does not). */
  crawlKnown?: (violation: CrawlViolation) => boolean
}

/** The `--policy` value of the pre-flight's printed fix, exactly as printed. */
export function printedPolicyFix(printed: string): string[] {
  const fix = /fix: allow \S+ in [a-z-]+: --policy "([^"]+)"/.exec(printed)
  if (!fix) throw new Error(`no --policy fix printed:\n${printed}`)
  return ['--policy', fix[1]!]
}

/**
 * Angular inserts its component styles at run time (no hash can allow them): served with nonces, which csp-seal
 * gives Angular through `ngCspNonce` on the app root. Its critical-CSS loader is an `onload=` handler (hashed), and
 * its templates' static `style="…"` attributes are set with setAttribute, which no nonce covers.
 */
const ANGULAR: SealedCase = {
  framework: 'Angular',
  scope: 'site',
  nonces: true,
  args: () => ['--config', ANGULAR_CONFIG],
}
/**
 * The config file those options go in, in the run's folder: written whole and renamed into place when this module
 * loads in a worker (each worker writes the same file), removed with the folder when the run ends.
 */
export const ANGULAR_CONFIG = path.join(inject('sealedFrameworks'), 'angular.json')
// `nonce: true` changes nothing in the sealed pages; it tells `csp-seal crawl` (like `csp-seal serve`) to serve nonces.
const ANGULAR_OPTIONS = { eventHandlers: 'hash', policy: { 'style-src-attr': "'unsafe-inline'" }, nonce: true }
writeFileSync(`${ANGULAR_CONFIG}.${process.pid}`, JSON.stringify(ANGULAR_OPTIONS))
renameSync(`${ANGULAR_CONFIG}.${process.pid}`, ANGULAR_CONFIG)

export const SEALED: Record<string, SealedCase> = {
  'vite-react': { framework: 'no framework recognised', scope: 'site' },
  vue: { framework: 'no framework recognised', scope: 'site' },
  vitepress: { framework: 'VitePress', scope: 'site' },
  sveltekit: { framework: 'SvelteKit', scope: 'site' },
  // Nuxt's error page, which its 404.html and SPA fallback 200.html render, inserts Vite's modulepreload polyfill as an
  // inline script through useHead. A script found in a string is never hashed, so it is blocked; it only polyfills
  // modulepreload, which every engine tested supports. (The page's <style> entries are found and allowed.)
  nuxt: {
    framework: 'Nuxt',
    scope: 'site',
    crawlKnown: (v) => v.directive === 'script-src-elem' && v.blocked === 'inline' && /^\/(200|404)\.html$/.test(v.page),
  },
  nextjs: { framework: 'Next.js', scope: 'site' },
  // The blog's avatars come from github.com, which the default policy blocks: the pre-flight's fix, as printed.
  docusaurus: { framework: 'Docusaurus', scope: 'site', args: printedPolicyFix },
  // After a client-side navigation Astro's ClientRouter inserts an empty `data:` module script (a marker that the
  // page's inline modules ran); the policy blocks it, which loses nothing. Allowing it would take data: in script-src.
  astro: {
    framework: 'Astro',
    scope: 'site',
    crawlKnown: (v) => v.directive === 'script-src-elem' && v.blocked === 'data',
    known:
      /^astro navigate [^:]+: (CSP script-src-elem blocked data \(http:\/\/127\.0\.0\.1:\d+\/_astro\/ClientRouter\.[^)]*\) |console error Loading the script 'data:application\/javascript,' violates )/,
  },
  eleventy: { framework: 'Eleventy', scope: 'page' },
  angular: ANGULAR,
  // With Angular's own autoCsp its policy meta stays in the page, enforced beside csp-seal's.
  'angular-autocsp': ANGULAR,
}

const run = promisify(execFile)

/** Runs the CLI; what it printed (stdout and stderr). */
export async function sealCli(args: string[]): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } })
  return stdout + stderr
}

export interface SealedCopy {
  /** The sealed copy to serve. Shared by the whole run: read it, serve it, crawl it, never write into it. */
  dir: string
  /** What `csp-seal <folder>` printed, and then what the run with the row's additions printed (the same without). */
  printed: string
  summary: string
}

/**
 * The fixture sealed as its row says: `csp-seal <copy>`, then, where the row adds flags, a second copy sealed with
 * them, as a user following the table would. Sealed once per run, in the run's folder
 * (test/support/sealed-frameworks-folder.ts): the first test file to ask seals it, and the others, in other workers,
 * wait for what it wrote. A failure to seal is shared the same way.
 */
export async function sealedAsTheRowSays(fixture: FrameworkFixture): Promise<SealedCopy> {
  const home = path.join(inject('sealedFrameworks'), fixture.name)
  const outcomeFile = path.join(home, 'outcome.json')
  const claimed = await mkdir(home).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return false
      throw err
    },
  )
  if (claimed) {
    const outcome = await sealInto(home, fixture).then(
      (copy) => ({ copy }),
      (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
    )
    // Written whole, then renamed: a reader never sees half of it.
    await writeFile(`${outcomeFile}.part`, JSON.stringify(outcome))
    await rename(`${outcomeFile}.part`, outcomeFile)
  }
  for (;;) {
    const written = await readFile(outcomeFile, 'utf8').catch(() => null)
    if (written !== null) {
      const outcome = JSON.parse(written) as { copy: SealedCopy } | { error: string }
      if ('error' in outcome) throw new Error(`sealing ${fixture.name} failed: ${outcome.error}`)
      return outcome.copy
    }
    // Another worker is sealing it: vitest's hook guard stops a wait that never ends.
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function sealInto(home: string, fixture: FrameworkFixture): Promise<SealedCopy> {
  const how = SEALED[fixture.name]
  if (!how) throw new Error(`${fixture.name} has no row in SEALED`)
  const first = path.join(home, 'site')
  await cp(fixture.siteDir, first, { recursive: true })
  const printed = await sealCli([first])
  if (!how.args) return { dir: first, printed, summary: printed }
  const dir = path.join(home, 'site-with-row')
  await cp(fixture.siteDir, dir, { recursive: true })
  return { dir, printed, summary: await sealCli([dir, ...how.args(printed)]) }
}

/** Serves a sealed copy as its row says: by a static host, or by csp-seal's Node middleware with nonces. */
export function serveAsTheRowSays(dir: string, fixture: FrameworkFixture): Promise<SiteServer> {
  return SEALED[fixture.name]?.nonces ? serveWithNonces(dir, fixture) : serveSite(dir, fixture)
}
