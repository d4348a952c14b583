import { readFile, rename, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import pc from 'picocolors'
import { resolveConfig } from '../config.js'
import { serializePolicy } from '../csp/policy.js'
import { SealError } from '../problems.js'
import { LEARNED_FILE, parseLearned, type LearnedFile } from '../site/learned.js'
import { manifestPath, readManifest } from '../server/manifest.js'
import { failureText } from './report.js'
import type { ConfigLoader } from './serve.js'
import { startServe } from './serve.js'

interface Io {
  out: (text: string) => void
  err: (text: string) => void
  cwd: string
}

interface CrawlFlags {
  config?: string
  browser?: string
  maxPages?: string | number
  maxClicks?: string | number
  budget?: string | number
  report?: string
  learn?: boolean
  learned?: string
}

export const CRAWL_DEFAULTS = { maxPages: 500, maxClicks: 2000, budget: 600 }

class CrawlUsageError extends Error {}

/** Registers `crawl`; main() hands the matched command to `run`. */
export function registerCrawlCommand(cli: CAC) {
  cli
    .command('crawl [dir]', 'Open a sealed folder in headless Chrome/Chromium/Edge, click through it and report every CSP violation (default: dist)')
    .option('--browser <path>', 'Chrome, Chromium or Edge executable (default: the first installed one found, or CHROME_PATH)')
    .option('--max-pages <n>', `Pages to open at most (default ${CRAWL_DEFAULTS.maxPages})`)
    .option('--max-clicks <n>', `Links and toggles to click at most (default ${CRAWL_DEFAULTS.maxClicks})`)
    .option('--budget <seconds>', `Time the crawl may take; it stops starting new steps after it (default ${CRAWL_DEFAULTS.budget})`)
    .option('--report <file>', 'Write a JSON report of every violation, error and learned entry')
    .option('--learn', `Write the hashes of blocked inline code to the learned file (default ${LEARNED_FILE}), for review`)
    .option('--learned <file>', `Learned file (default: the config's learned.file, else ${LEARNED_FILE})`)
    .option('--config <file>', 'Config file (default: csp-seal.config.* in the current folder)')
  return {
    handles: (name: string | undefined) => name === 'crawl',
    async run(parsed: { args: readonly string[]; options: Record<string, unknown> }, io: Io, loadConfig: ConfigLoader): Promise<number> {
      try {
        return await crawlCommand(parsed.args[0], parsed.options as CrawlFlags, io, loadConfig)
      } catch (error) {
        const { BrowserSetupError } = await import('../crawl/browser.js')
        if (error instanceof SealError) {
          io.err(failureText(error.problems, 'csp-seal crawl'))
          return 1
        }
        const code = error instanceof BrowserSetupError ? `[${error.code}] ` : ''
        io.err(`${pc.red('csp-seal crawl:')} ${code}${(error as Error).message}\n`)
        return error instanceof CrawlUsageError || error instanceof BrowserSetupError ? 2 : 1
      }
    },
  }
}

function count(value: string | number | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new CrawlUsageError(`${flag} must be a whole number of at least 1, not ${JSON.stringify(value)}`)
  return n
}

async function crawlCommand(dirArg: string | undefined, flags: CrawlFlags, io: Io, loadConfig: ConfigLoader): Promise<number> {
  const dir = resolve(io.cwd, dirArg ?? 'dist')
  const maxPages = count(flags.maxPages, '--max-pages', CRAWL_DEFAULTS.maxPages)
  const maxClicks = count(flags.maxClicks, '--max-clicks', CRAWL_DEFAULTS.maxClicks)
  const budget = count(flags.budget, '--budget', CRAWL_DEFAULTS.budget)
  const config = resolveConfig(await loadConfig(flags))
  if (config.manifest === false) throw new CrawlUsageError('the config sets manifest: false, but the crawl serves the site from its csp-seal.json')
  const learnedPath = resolve(io.cwd, flags.learned ?? (config.learned ? config.learned.file : undefined) ?? LEARNED_FILE)
  const previous = await readLearnedFile(learnedPath)
  // Browser code loads only here: the sealing commands never load it.
  const { findBrowser, loadDriver } = await import('../crawl/browser.js')
  const browser = findBrowser(flags.browser)
  await loadDriver()
  const manifest = await readManifest(manifestPath(dir, config.manifest)).catch((error: Error) => {
    throw new Error(`${error.message.replace('<dir>', dirArg ?? 'dist')}`)
  })
  // In the order of their URL paths: the home page first and a folder's index before the pages in it, as a visitor
  // comes in; a client router's views are reached by clicking from there (each link target is clicked once).
  const pages = Object.keys(manifest.pages)
    .map((file) => pageUrlPath(manifest.base, file))
    .sort()
  const started = performance.now()
  const server = await startServe({
    root: dir,
    port: 0,
    manifest: config.manifest,
    policy: serializePolicy(config.policy),
    nonce: config.nonce,
    io: { out: () => undefined, err: () => undefined },
  })
  let result
  try {
    const { crawlSite } = await import('../crawl/crawl.js')
    result = await crawlSite({ url: server.url, pages, browser, maxPages, maxClicks, budget })
  } finally {
    await server.close()
  }
  const { groupViolations } = await import('../crawl/violations.js')
  const { nextLearned, staleEntries } = await import('../crawl/learn.js')
  const learnedName = displayPath(io.cwd, learnedPath)
  const groups = groupViolations(result.violations, learnedName)
  // A crawl cut short saw only part of the site: what it did not see is not known to be stale.
  const stale = result.cut ? [] : staleEntries(previous, result.seenHashes)
  let written: LearnedFile | undefined
  if (flags.learn) {
    const next = nextLearned(
      result.cut ? { version: 1, hashes: previous?.hashes ?? [] } : previous,
      result.violations,
      result.cut ? new Set([...result.seenHashes, ...(previous?.hashes ?? []).map((h) => h.hash)]) : result.seenHashes,
    )
    const temp = `${learnedPath}.${process.pid}.tmp`
    await writeFile(temp, `${JSON.stringify(next, null, 2)}\n`)
    await rename(temp, learnedPath)
    written = next
  }
  if (flags.report) {
    const report = {
      violations: result.violations,
      groups,
      errors: result.errors,
      pagesOpened: result.pagesOpened,
      clicks: result.clicks,
      cut: result.cut ?? null,
      stale,
      learned: written ? { file: learnedName, hashes: written.hashes.length } : null,
    }
    await writeFile(resolve(io.cwd, flags.report), `${JSON.stringify(report, null, 2)}\n`)
  }
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : word.endsWith('h') ? 'es' : 's'}`
  const lines = [
    `${pc.green('csp-seal crawl')} ${plural(result.pagesOpened, 'page')} opened, ${plural(result.clicks, 'click')} in ${dirArg ?? 'dist'} (${((performance.now() - started) / 1000).toFixed(1)}s, ${browser})`,
  ]
  if (result.cut) lines.push(pc.yellow(`  stopped early   ${result.cut}: raise the limit to crawl the rest`))
  lines.push(`  violations      ${result.violations.length ? pc.red(`${result.violations.length} (${plural(groups.length, 'kind')})`) : pc.green('none')}`)
  for (const group of groups) {
    const what = group.blocked === 'inline' ? `inline ${group.hash ?? '(no hash reported)'}` : group.blocked
    lines.push(`  ${pc.red('✗')} [csp-violation] ${group.directive} blocked ${what}${group.count > 1 ? ` ×${group.count}` : ''}`)
    if (group.sample) lines.push(`      sample: ${JSON.stringify(group.sample)}`)
    for (const place of group.places.slice(0, 3)) lines.push(`      at ${place.page} (${place.path.join(' → ')})`)
    if (group.places.length > 3) lines.push(`      and ${group.places.length - 3} more places (--report lists them all)`)
    lines.push(`      fix: ${group.fix}`)
  }
  if (result.errors.length) {
    lines.push(pc.yellow(`  js errors       ${result.errors.length}`))
    for (const error of result.errors.slice(0, 5)) lines.push(`    [js-error] ${error.message} at ${error.page} (${error.path.join(' → ')})`)
  }
  if (stale.length) {
    lines.push(
      pc.yellow(
        `  stale learned   ${plural(stale.length, 'entry')} of ${learnedName} no longer seen${flags.learn ? ': removed from the file' : ': csp-seal crawl --learn removes them'}`,
      ),
    )
    for (const entry of stale.slice(0, 5)) lines.push(`    [learned-stale] ${entry.directive} ${entry.hash}`)
  }
  if (written) lines.push(`  learned         ${plural(written.hashes.length, 'hash')} written to ${learnedName}: review it, commit it, then seal again`)
  io.out(`${lines.join('\n')}\n`)
  return result.violations.length ? 1 : 0
}

/** The URL path of a sealed page: `about/index.html` is served at `about/`. */
export function pageUrlPath(base: string, file: string): string {
  const path = file === 'index.html' ? '' : file.endsWith('/index.html') ? file.slice(0, -'index.html'.length) : file
  return `${base.endsWith('/') ? base : `${base}/`}${path.split('/').map(encodeURIComponent).join('/')}`
}

async function readLearnedFile(path: string): Promise<LearnedFile | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    // No file yet is no entry yet (a named one is written by --learn).
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  return parseLearned(text, path)
}

function displayPath(cwd: string, path: string): string {
  return path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path
}
