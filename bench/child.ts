/**
 * One measured variant, in its own process so that its peak RSS is its own. Started by run.ts (compiled, no
 * loader in the timed path); prints one result line. Only the work itself is timed: imports, and the copy of
 * the site the parent made, are outside the clock.
 *
 *   node bench/out/build/bench/child.js <variant> <site dir> <cwd> <engine url>
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CspSealConfig, SealDirectoryOptions, SiteResult } from '../src/index.js'
import { runFloor } from './floor.js'

export type Variant = 'floor' | 'csp-seal-1' | 'csp-seal' | 'strict-csp'

export interface ChildResult {
  variant: Variant
  ms: number
  /** CPU time of the process over the same span (user + system, all threads): steadier than wall time on a busy machine. */
  cpuMs: number
  pages: number
  /** Peak resident set size of the whole process (all threads), in bytes. */
  maxRss: number
  /** What the variant found or did, to show it did the work (hashes, files written, warnings by code). */
  detail: Record<string, number | string>
}

export const RESULT_PREFIX = '@@csp-seal-bench '

/** `workers` is the engine's thread count (1 = in-process); older engines ignore the option. */
type SealOptions = SealDirectoryOptions & { workers?: number }

type Outcome = Omit<ChildResult, 'variant' | 'maxRss' | 'ms' | 'cpuMs'>

/** Wall and CPU time of `work` alone. */
async function timed(work: () => Outcome | Promise<Outcome>): Promise<Omit<ChildResult, 'variant' | 'maxRss'>> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const outcome = await work()
  const ms = performance.now() - started
  const { user, system } = process.cpuUsage(cpu)
  return { ms, cpuMs: (user + system) / 1000, ...outcome }
}

async function runSeal(
  variant: Variant,
  site: string,
  cwd: string,
  engineUrl: string,
  config: CspSealConfig,
): Promise<Omit<ChildResult, 'variant' | 'maxRss'>> {
  const engine = (await import(engineUrl)) as typeof import('../src/index.js')
  const options: SealOptions = { mode: 'write', cwd }
  if (variant === 'csp-seal-1') options.workers = 1
  return timed(async () => {
    const result = await engine.sealDirectory(site, config, options)
    return { pages: result.pages.length, detail: sealDetail(result) }
  })
}

function sealDetail(result: SiteResult): Record<string, number | string> {
  const detail: Record<string, number | string> = { written: result.written.length }
  const add = (key: string, value: number) => (detail[key] = Number(detail[key] ?? 0) + value)
  // Page summaries have been lists (hashes) and counts: read either, so the bench runs on both engines.
  for (const page of result.pages as unknown as Array<Record<string, unknown>>) {
    for (const key of ['scriptHashes', 'styleHashes', 'attributeHashes', 'integrity']) add(key, sizeOf(page[key]))
  }
  for (const warning of result.warnings as Array<{ code: string; count?: number }>) add(`warning:${warning.code}`, warning.count ?? 1)
  return detail
}

function sizeOf(value: unknown): number {
  if (typeof value === 'number') return value
  if (Array.isArray(value)) return value.length
  return value && typeof value === 'object' ? Object.keys(value).length : 0
}

/** google/strict-csp exactly as its README uses it, page by page. */
async function runStrictCsp(site: string): Promise<Omit<ChildResult, 'variant' | 'maxRss'>> {
  const { StrictCsp } = await import('strict-csp')
  return timed(() => {
    const files = (readdirSync(site, { recursive: true }) as string[]).filter((file) => file.endsWith('.html') || file.endsWith('.htm'))
    let hashes = 0
    for (const file of files) {
      const path = join(site, file)
      const s = new StrictCsp(readFileSync(path, 'utf8'))
      s.refactorSourcedScriptsForHashBasedCsp()
      const scriptHashes = s.hashAllInlineScripts()
      const strictCsp = StrictCsp.getStrictCsp(scriptHashes, { enableBrowserFallbacks: true })
      s.addMetaTag(strictCsp)
      writeFileSync(path, s.serializeDom())
      hashes += scriptHashes.length
    }
    return { pages: files.length, detail: { scriptHashes: hashes } }
  })
}

async function main(): Promise<void> {
  const [variant, site, cwd, engineUrl, configJson] = process.argv.slice(2) as [Variant, string, string, string, string]
  let outcome: Omit<ChildResult, 'variant' | 'maxRss'>
  if (variant === 'floor') {
    outcome = await timed(() => {
      const run = runFloor(site)
      return { pages: run.pages, detail: { scripts: run.scripts, styles: run.styles } }
    })
  } else if (variant === 'strict-csp') {
    outcome = await runStrictCsp(site)
  } else {
    outcome = await runSeal(variant, site, cwd, engineUrl, JSON.parse(configJson) as CspSealConfig)
  }
  const result: ChildResult = { variant, ...outcome, maxRss: process.resourceUsage().maxRSS * 1024 }
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
}

/** A failed run's reason, short: a SealError can list every page of a large site. */
function describeFailure(error: unknown): string {
  const problems = (error as { problems?: Array<{ file?: string; code?: string; message?: string }> }).problems
  if (!Array.isArray(problems)) return (error as Error).stack ?? String(error)
  const shown = problems.slice(0, 5).map((p) => `  ${p.file ?? ''} ${p.code ?? ''}: ${p.message ?? ''}`)
  return [`${problems.length} problem(s):`, ...shown, ...(problems.length > 5 ? [`  … and ${problems.length - 5} more`] : [])].join('\n')
}

// Imported by run.ts for its types and constants; runs only as the child's entry point.
if (process.argv[1]?.endsWith('child.js') && process.argv.length > 3) {
  try {
    await main()
  } catch (error) {
    process.stderr.write(`${process.argv[2]} failed: ${describeFailure(error)}\n`)
    process.exitCode = 1
  }
}
