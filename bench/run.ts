/**
 * `npm run bench`: csp-seal's sealing performance, measured in one run on the same corpus.
 *
 *   npm run bench                      10,000 generated pages
 *   npm run bench -- --real-sites DIR  and every built site in DIR (one folder each)
 *   npm run bench -- --pages 2000      a smaller generated site
 *   npm run bench -- --json            machine-readable results on stdout (progress goes to stderr)
 *   npm run bench -- --memory          peak RSS of csp-seal at N vs 10×N pages (default N = 10,000)
 *
 * Variants, each in its own child process (its own peak RSS), each on a fresh copy of the site (copying is
 * outside the timed part, and real writes are measured): the floor (read + parse5 tokenizer + sha256 + splice +
 * write, one thread), csp-seal on one thread (`workers: 1`), csp-seal with its default parallelism, and
 * google/strict-csp used as its README shows.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import type { CspSealConfig } from '../src/index.js'
import { WORKER_THRESHOLD } from '../src/site/site.js'
import { RESULT_PREFIX, type ChildResult, type Variant } from './child.js'
import { buildEngine, REPO, type Engine } from './engine.js'
import { BENCH_ROOT, DEFAULT_SITE, ensureCorpus, type SiteOptions } from './generate.js'

interface Args {
  pages: number
  seed: number
  json: boolean
  memory: boolean
  runs: number
  variants: Variant[]
  realSites?: string
  engine: 'build' | 'dist'
}

const VARIANTS: Variant[] = ['floor', 'csp-seal-1', 'csp-seal', 'strict-csp']
const LABELS: Record<Variant, string> = {
  floor: 'floor (parse5 tokenizer, 1 thread)',
  'csp-seal-1': 'csp-seal, 1 thread',
  'csp-seal': 'csp-seal, default parallelism',
  'strict-csp': 'google/strict-csp (README usage)',
}
/**
 * The sealing config of every run: the defaults plus Netlify headers; CDN integrity from the lock file only; page
 * scope: the generated pages carry VitePress's markers (so `auto` would pick site scope) but, unlike VitePress, an
 * inline page-data script of their own, whose union at site scope would put 10,000 hashes in every policy.
 */
const SEAL_CONFIG: CspSealConfig = { headers: ['netlify'], remote: { mode: 'lock-only' }, scope: 'page' }
/** Real sites have CDN tags the bench did not pin by hand: pinned with placeholders, and a miss only warns. */
const REAL_SEAL_CONFIG: CspSealConfig = { headers: ['netlify'], remote: { mode: 'lock-only', onFetchError: 'warn' } }
/** Smaller pages for --memory, so 100,000 of them fit the disk and a few minutes. */
const MEMORY_PAGE_BYTES = { minBytes: 8 * 1024, maxBytes: 16 * 1024 }

const HELP = `usage: npm run bench -- [options]
  --pages N      pages of the generated site (default 10000); with --memory, N vs 10×N pages
  --seed S       generator seed (default 7)
  --runs R       run every variant R times, round by round, and report the medians (default 1)
  --only LIST    variants to run, comma-separated: ${VARIANTS.join(',')}
  --real-sites D also seal every built site in folder D (one folder per site, an optional SOURCE.json naming its repo)
  --engine dist  measure dist/ (npm run build) instead of compiling the current sources
  --memory       only compare csp-seal's peak RSS at N and 10×N pages (smaller pages: 8–16 KB targets, ~13 KB on average)
  --json         print the results as JSON on stdout`

function parseArgs(argv: string[]): Args {
  const args: Args = { pages: DEFAULT_SITE.pages, seed: DEFAULT_SITE.seed, json: false, memory: false, runs: 1, variants: VARIANTS, engine: 'build' }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${flag} needs a value\n${HELP}`)
      return next
    }
    const count = (text: string) => {
      const n = Number(text.replace(/_/g, ''))
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, not ${text}`)
      return n
    }
    if (flag === '--pages') args.pages = count(value())
    else if (flag === '--seed') args.seed = Number(value())
    else if (flag === '--runs') args.runs = count(value())
    else if (flag === '--json') args.json = true
    else if (flag === '--memory') args.memory = true
    else if (flag === '--real-sites') args.realSites = resolve(value())
    else if (flag === '--only') {
      args.variants = value()
        .split(',')
        .map((v) => v.trim()) as Variant[]
      const unknown = args.variants.filter((v) => !VARIANTS.includes(v))
      if (unknown.length) throw new Error(`unknown variant ${unknown.join(', ')}; known: ${VARIANTS.join(', ')}`)
    } else if (flag === '--engine') {
      const engine = value()
      if (engine !== 'build' && engine !== 'dist') throw new Error('--engine is build or dist')
      args.engine = engine
    } else if (flag === '--help' || flag === '-h') {
      console.log(HELP)
      process.exit(0)
    } else throw new Error(`unknown option ${flag}\n${HELP}`)
  }
  return args
}

interface Measured {
  variant: Variant
  label: string
  ok: boolean
  error?: string
  /** Median over the runs. */
  ms: number
  /** Median CPU time (all threads of the variant's process). */
  cpuMs: number
  runsMs: number[]
  pagesPerSecond: number
  mbPerSecond: number
  maxRssBytes: number
  pages: number
  detail: Record<string, number | string>
}

interface SiteReport {
  name: string
  description: string
  pages: number
  htmlBytes: number
  results: Measured[]
  ratios: Record<string, number | undefined>
  notes: string[]
}

/** Pages to seal. Each run gets a fresh copy: `copy/site` holds the pages, `copy/` (the run's cwd) the lock file. */
interface Workload {
  name: string
  description: string
  /** Folder of the pages; only ever read. */
  site: string
  /** Text of `csp-seal.lock.json`. */
  lock: string
  pages: number
  htmlBytes: number
  config: CspSealConfig
}

let workCounter = 0

async function freshCopy(workload: Workload): Promise<string> {
  const copy = join(BENCH_ROOT, `work-${process.pid}-${++workCounter}`)
  await rm(copy, { recursive: true, force: true })
  await mkdir(copy, { recursive: true })
  const cp = spawnSync('cp', ['-R', workload.site, join(copy, 'site')])
  if (cp.status !== 0) throw new Error(`cp -R ${workload.site} failed: ${cp.stderr.toString()}`)
  await writeFile(join(copy, 'csp-seal.lock.json'), workload.lock)
  // Flush the copy's dirty pages now, so the timed run does not pay for the copy's writeback.
  spawnSync('sync')
  return copy
}

function runChild(engine: Engine, variant: Variant, site: string, cwd: string, config: CspSealConfig): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [engine.child, variant, site, cwd, engine.engineUrl, JSON.stringify(config)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code === 0 && line) resolvePromise(JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult)
      else reject(new Error(`${variant} exited with ${code}${out.trim() ? `: ${out.trim().slice(0, 2000)}` : ''}`))
    })
  })
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** One run of a variant on a fresh copy of the site; the error's message if it failed. */
async function runOnce(engine: Engine, workload: Workload, variant: Variant, label: string, log: (line: string) => void): Promise<ChildResult | string> {
  const copy = await freshCopy(workload)
  try {
    log(`  ${label}…`)
    return await runChild(engine, variant, join(copy, 'site'), copy, workload.config)
  } catch (error) {
    const message = (error as Error).message
    log(`  ${LABELS[variant]} failed: ${message.split('\n')[0]}`)
    return message
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
}

/** The medians of a variant's runs. */
function summarize(workload: Workload, variant: Variant, results: ChildResult[], error?: string): Measured {
  if (error !== undefined || results.length === 0) {
    return {
      variant,
      label: LABELS[variant],
      ok: false,
      error,
      ms: NaN,
      cpuMs: NaN,
      runsMs: [],
      pagesPerSecond: NaN,
      mbPerSecond: NaN,
      maxRssBytes: NaN,
      pages: 0,
      detail: {},
    }
  }
  const ms = median(results.map((r) => r.ms))
  const last = results[results.length - 1]!
  return {
    variant,
    label: LABELS[variant],
    ok: true,
    ms,
    cpuMs: median(results.map((r) => r.cpuMs)),
    runsMs: results.map((r) => r.ms),
    pagesPerSecond: last.pages / (ms / 1000),
    mbPerSecond: workload.htmlBytes / 1e6 / (ms / 1000),
    maxRssBytes: Math.max(...results.map((r) => r.maxRss)),
    pages: last.pages,
    detail: last.detail,
  }
}

/**
 * Runs every variant `runs` times, round by round (floor, csp-seal, …, then again), so that a change in the
 * machine's load over the minutes of a run weighs on every variant alike.
 */
async function measureAll(engine: Engine, workload: Workload, variants: Variant[], runs: number, log: (line: string) => void): Promise<Measured[]> {
  const results = new Map<Variant, ChildResult[]>(variants.map((variant) => [variant, []]))
  const errors = new Map<Variant, string>()
  for (let run = 0; run < runs; run++) {
    for (const variant of variants) {
      if (errors.has(variant)) continue
      const outcome = await runOnce(engine, workload, variant, `${LABELS[variant]}${runs > 1 ? ` (run ${run + 1}/${runs})` : ''}`, log)
      if (typeof outcome === 'string') errors.set(variant, outcome)
      else results.get(variant)!.push(outcome)
    }
  }
  return variants.map((variant) => summarize(workload, variant, results.get(variant)!, errors.get(variant)))
}

async function benchWorkload(engine: Engine, workload: Workload, args: Args, log: (line: string) => void): Promise<SiteReport> {
  log(`${workload.name}: ${workload.description}`)
  const results = await measureAll(engine, workload, args.variants, args.runs, log)
  const time = (variant: Variant) => results.find((r) => r.variant === variant && r.ok)?.ms
  const cpu = (variant: Variant) => results.find((r) => r.variant === variant && r.ok)?.cpuMs
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : undefined)
  const notes: string[] = []
  const mismatch = results.find((r) => r.ok && r.pages !== workload.pages)
  if (mismatch) notes.push(`${mismatch.label} handled ${mismatch.pages} pages of ${workload.pages}`)
  for (const failed of results.filter((r) => !r.ok)) notes.push(`${failed.label} failed (the reason is on stderr): ${failed.error?.split('\n')[0]}`)
  return {
    name: workload.name,
    description: workload.description,
    pages: workload.pages,
    htmlBytes: workload.htmlBytes,
    results,
    ratios: {
      sealOneThreadOverFloor: ratio(time('csp-seal-1'), time('floor')),
      sealOneThreadOverFloorCpu: ratio(cpu('csp-seal-1'), cpu('floor')),
      parallelSpeedup: ratio(time('csp-seal-1'), time('csp-seal')),
      strictCspOverSealOneThread: ratio(time('strict-csp'), time('csp-seal-1')),
      strictCspOverSeal: ratio(time('strict-csp'), time('csp-seal')),
    },
    notes,
  }
}

/** The HTML pages under a folder: count and bytes. */
async function htmlStats(dir: string): Promise<{ pages: number; htmlBytes: number; files: string[] }> {
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.html') || f.endsWith('.htm'))
  let htmlBytes = 0
  for (const file of files) htmlBytes += (await readFile(join(dir, file))).length
  return { pages: files.length, htmlBytes, files }
}

/**
 * A lock file for a real site's CDN scripts and stylesheets. The bench never fetches: the integrity values are
 * placeholders (sha384 of the URL), which exercises the same pinning path as real ones.
 */
async function placeholderLock(dir: string, files: string[]): Promise<string> {
  const urls = new Set<string>()
  for (const file of files) {
    const html = await readFile(join(dir, file), 'utf8')
    for (const [tag] of html.matchAll(/<(?:script|link)\b[^>]*>/gi)) {
      if (/^<link/i.test(tag) && !/\brel\s*=\s*["']?[^"'>]*\b(?:stylesheet|modulepreload|preload)\b/i.test(tag)) continue
      const url = /\b(?:src|href)\s*=\s*["']?((?:https?:)?\/\/[^"'\s>]+)/i.exec(tag)?.[1]
      if (url) urls.add(new URL(url, 'https://example.invalid/').href)
    }
  }
  const resources: Record<string, unknown> = {}
  for (const url of [...urls].sort()) {
    resources[url] = {
      integrity: `sha384-${createHash('sha384').update(`csp-seal bench placeholder ${url}`).digest('base64')}`,
      finalUrl: url,
      size: 0,
      fetchedAt: '2025-01-01T00:00:00.000Z',
    }
  }
  return `${JSON.stringify({ version: 1, resources }, null, 2)}\n`
}

async function realWorkloads(realSites: string, log: (line: string) => void): Promise<Workload[]> {
  if (!existsSync(realSites)) {
    log(`note: ${realSites} is absent; skipping the real sites`)
    return []
  }
  const workloads: Workload[] = []
  for (const entry of (await readdir(realSites, { withFileTypes: true })).filter((e) => e.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const dir = join(realSites, entry.name)
    const stats = await htmlStats(dir)
    const lock = await placeholderLock(dir, stats.files)
    const source = await readFile(join(dir, 'SOURCE.json'), 'utf8').then(
      (text) => JSON.parse(text) as { repo?: string },
      () => ({ repo: undefined }),
    )
    workloads.push({
      name: entry.name,
      description: `real site${source.repo ? ` (${source.repo})` : ''}, ${stats.pages} pages, ${(stats.htmlBytes / 1e6).toFixed(1)} MB of HTML, .js are same-size stand-ins`,
      // Only ever copied: the shared folder is never written.
      site: dir,
      lock,
      pages: stats.pages,
      htmlBytes: stats.htmlBytes,
      config: REAL_SEAL_CONFIG,
    })
  }
  return workloads
}

function machine() {
  const cpu = cpus()
  return {
    cpus: cpu.length,
    availableParallelism: availableParallelism(),
    model: cpu[0]?.model ?? 'unknown',
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: loadavg().map((n) => Number(n.toFixed(2))),
  }
}

const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s` : '—')
const fixed = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '—')
const mb = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '—')
const times = (n: number | undefined) => (n === undefined ? '—' : `${n.toFixed(2)}×`)
const mark = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? '  ✓' : '  ✗ misses the target')

function printSite(report: SiteReport): void {
  console.log(`\n${report.name}: ${report.description}`)
  const rows = [['variant', 'time', 'pages/s', 'MB/s', 'peak RSS', 'CPU time']]
  for (const r of report.results)
    rows.push([r.label, r.ok ? seconds(r.ms) : 'failed', fixed(r.pagesPerSecond), fixed(r.mbPerSecond, 1), mb(r.maxRssBytes), seconds(r.cpuMs)])
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  for (const [i, row] of rows.entries()) {
    console.log(`  ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ')}`)
    if (i === 0) console.log(`  ${widths.map((w) => '─'.repeat(w)).join('   ')}`)
  }
  const {
    sealOneThreadOverFloor: floor,
    sealOneThreadOverFloorCpu: floorCpu,
    parallelSpeedup: speedup,
    strictCspOverSealOneThread: strict1,
    strictCspOverSeal: strict,
  } = report.ratios
  console.log(
    `  csp-seal 1 thread ÷ floor (time):    ${times(floor)}  (target ≤ 1.3×; CPU time ${times(floorCpu)})${mark(floor === undefined ? undefined : floor <= 1.3)}`,
  )
  const speedupNote =
    report.pages < WORKER_THRESHOLD
      ? `(below ${WORKER_THRESHOLD.toLocaleString('en-US')} pages the default is one thread)`
      : `(target ≥ 1.6× on 2 cores)${mark(speedup === undefined ? undefined : speedup >= 1.6)}`
  console.log(`  parallel speed-up over 1 thread:     ${times(speedup)}  ${speedupNote}`)
  console.log(
    `  strict-csp time ÷ csp-seal time:     1 thread ${times(strict1)}, default ${times(strict)}  (> 1× means csp-seal is faster)${mark(strict === undefined ? undefined : strict > 1)}`,
  )
  const seal = report.results.find((r) => r.variant === 'csp-seal-1' && r.ok) ?? report.results.find((r) => r.variant === 'csp-seal' && r.ok)
  const floorRun = report.results.find((r) => r.variant === 'floor' && r.ok)
  // The floor is honest only if it finds what csp-seal hashes (equal unless a page repeats an inline text).
  if (floorRun && seal) {
    const n = (value: unknown) => Number(value ?? 0).toLocaleString('en-US')
    console.log(
      `  inline texts: the floor found ${n(floorRun.detail.scripts)} scripts and ${n(floorRun.detail.styles)} styles; csp-seal hashed ${n(seal.detail.scriptHashes)} and ${n(seal.detail.styleHashes)} (distinct per page)`,
    )
  }
  const warnings = Object.entries(seal?.detail ?? {}).filter(([key]) => key.startsWith('warning:'))
  if (warnings.length) console.log(`  csp-seal warnings: ${warnings.map(([key, n]) => `${key.slice(8)} ×${n}`).join(', ')}`)
  for (const note of report.notes) console.log(`  note: ${note}`)
}

async function memoryComparison(engine: Engine, args: Args, log: (line: string) => void) {
  const sizes = [args.pages, args.pages * 10]
  const measured = []
  for (const pages of sizes) {
    const corpus = await ensureCorpus({ ...DEFAULT_SITE, ...MEMORY_PAGE_BYTES, pages, seed: args.seed }, log)
    const workload: Workload = {
      name: `generated-${pages}`,
      description: `${pages.toLocaleString('en-US')} pages, ${(corpus.htmlBytes / corpus.pages / 1024).toFixed(1)} KB on average`,
      site: corpus.site,
      lock: await readFile(corpus.lockFile, 'utf8'),
      pages: corpus.pages,
      htmlBytes: corpus.htmlBytes,
      config: SEAL_CONFIG,
    }
    log(`memory: ${workload.description}`)
    measured.push({ pages, htmlBytes: corpus.htmlBytes, result: (await measureAll(engine, workload, ['csp-seal'], 1, log))[0]! })
  }
  const [small, large] = measured as [(typeof measured)[0], (typeof measured)[0]]
  return {
    variant: LABELS['csp-seal'],
    note: `smaller pages than the main run (8–16 KB targets, ${(small.htmlBytes / small.pages / 1024).toFixed(1)} KB on average, instead of 20–120 KB), so 10× the pages fit the disk and a few minutes; both sizes are drawn from the same generator`,
    runs: measured.map((m) => ({
      pages: m.pages,
      htmlBytes: m.htmlBytes,
      ms: m.result.ms,
      cpuMs: m.result.cpuMs,
      maxRssBytes: m.result.maxRssBytes,
      ok: m.result.ok,
    })),
    rssRatio: large.result.maxRssBytes / small.result.maxRssBytes,
  }
}

/** Removes work copies left by interrupted runs (their process is gone). */
async function removeStaleCopies(): Promise<void> {
  if (!existsSync(BENCH_ROOT)) return
  for (const name of await readdir(BENCH_ROOT)) {
    const pid = Number(/^work-(\d+)-/.exec(name)?.[1] ?? /\.tmp-(\d+)$/.exec(name)?.[1] ?? NaN)
    if (!pid || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch {
      await rm(join(BENCH_ROOT, name), { recursive: true, force: true })
    }
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const started = performance.now()
  const info = machine()
  log(`csp-seal bench on ${info.cpus}× ${info.model}, ${info.memoryGB} GB, Node ${info.node}; load average ${info.loadAverageAtStart.join(' ')}`)
  await removeStaleCopies()
  const engine = buildEngine(args.engine, log)
  for (const note of engine.notes) log(`note: ${note}`)

  if (args.memory) {
    const memory = await memoryComparison(engine, args, log)
    if (args.json)
      console.log(
        JSON.stringify(
          { machine: { ...info, loadAverageAtEnd: loadavg() }, engine: { source: engine.source, notes: engine.notes }, config: SEAL_CONFIG, memory },
          null,
          2,
        ),
      )
    else {
      console.log(`\nPeak RSS of ${memory.variant} (${memory.note}):`)
      for (const run of memory.runs)
        console.log(
          `  ${run.pages.toLocaleString('en-US').padStart(9)} pages, ${(run.htmlBytes / 1e6).toFixed(0).padStart(5)} MB of HTML: ${run.ok ? `${mb(run.maxRssBytes)} peak RSS, ${seconds(run.ms)}` : 'failed'}`,
        )
      console.log(`  ratio: ${times(memory.rssRatio)}  (target ≤ 1.5×)${mark(Number.isFinite(memory.rssRatio) ? memory.rssRatio <= 1.5 : undefined)}`)
      console.log(
        `\n(${info.cpus}× ${info.model}, Node ${info.node}; load average at start ${info.loadAverageAtStart.join(' ')}, at end ${loadavg()
          .map((n) => n.toFixed(2))
          .join(' ')}; ${seconds(performance.now() - started)} in all)`,
      )
    }
    return
  }

  const siteOptions: SiteOptions = { ...DEFAULT_SITE, pages: args.pages, seed: args.seed }
  const corpus = await ensureCorpus(siteOptions, log)
  const workloads: Workload[] = [
    {
      name: 'generated',
      description: `${corpus.pages.toLocaleString('en-US')} pages, ${(corpus.htmlBytes / 1e6).toFixed(0)} MB of HTML (${siteOptions.minBytes / 1024}–${siteOptions.maxBytes / 1024} KB pages, seed ${siteOptions.seed})`,
      site: corpus.site,
      lock: await readFile(corpus.lockFile, 'utf8'),
      pages: corpus.pages,
      htmlBytes: corpus.htmlBytes,
      config: SEAL_CONFIG,
    },
  ]
  if (args.realSites) workloads.push(...(await realWorkloads(args.realSites, log)))

  const reports: SiteReport[] = []
  for (const workload of workloads) reports.push(await benchWorkload(engine, workload, args, log))

  const notes = [
    ...engine.notes,
    "MB/s counts HTML bytes (10^6) over the whole run; peak RSS is process.resourceUsage().maxRSS of the variant's process (all its threads)",
    `csp-seal config: ${JSON.stringify(SEAL_CONFIG)} (real sites: CDN URLs pinned with placeholder integrity, onFetchError "warn")`,
    'strict-csp: new StrictCsp(html), refactorSourcedScriptsForHashBasedCsp(), hashAllInlineScripts(), getStrictCsp(hashes, { enableBrowserFallbacks: true }), addMetaTag(), serializeDom() — scripts only: no styles, SRI, policy merge or headers',
  ]
  if (args.json) {
    console.log(
      JSON.stringify(
        { machine: { ...info, loadAverageAtEnd: loadavg() }, engine: { source: engine.source }, config: SEAL_CONFIG, sites: reports, notes },
        null,
        2,
      ),
    )
    return
  }
  for (const report of reports) printSite(report)
  console.log('')
  for (const note of notes) console.log(`note: ${note}`)
  console.log(
    `\n(${info.cpus}× ${info.model}, ${info.memoryGB} GB, Node ${info.node}; load average at start ${info.loadAverageAtStart.join(' ')}, at end ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}; the machine is shared, so expect noise; ${seconds(performance.now() - started)} in all)`,
  )
}

try {
  await main()
} catch (error) {
  console.error(`bench: ${(error as Error).message}`)
  process.exitCode = 1
}
