/**
 * `npm run bench:vite`: what `cspSeal()` adds to `vite build` of a 200-page multi-page app (target: ≤ 5 ms per
 * page). Builds the same generated app with and without the plugin, alternating, in this process (as `vite build`
 * runs), after a warm-up build of each; reports the medians, the added time per page (the median of each round's
 * difference), how much of it the plugin's own hooks take (sealing in generateBundle, the check in writeBundle and
 * closeBundle), and what the first sealed build of the process costs.
 *
 *   npm run bench:vite -- [--pages 200] [--runs 5] [--vite 8|7] [--json]
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import type { InlineConfig, Plugin } from 'vite'
import { contentBlock, filler, svgIcon, title, words, WORDS } from './content.js'
import { buildEngine } from './engine.js'
import { BENCH_ROOT } from './generate.js'
import { Random, streamSeed } from './random.js'

/** Bump when the generated app changes. */
const APP_VERSION = 2
const SHARED_MODULES = 24

type Hook = 'seal' | 'check'

/** One build: wall and CPU time, and the time spent in the plugin's hooks (0 without the plugin). */
interface Run extends Record<Hook, number> {
  ms: number
  cpuMs: number
  /** CPU time of the process while the hooks ran (Vite's own threads are idle then): steadier than wall time on a busy machine. */
  hookCpu: Record<Hook, number>
}

interface Args {
  pages: number
  runs: number
  json: boolean
  seed: number
  /** Vite 8 (Rolldown, the `vite` package) or Vite 7 (Rollup, installed as `vite7`). */
  vite: 7 | 8
}

function parseArgs(argv: string[]): Args {
  const args: Args = { pages: 200, runs: 5, json: false, seed: 7, vite: 8 }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    if (flag === '--pages') args.pages = Number(argv[++i])
    else if (flag === '--runs') args.runs = Number(argv[++i])
    else if (flag === '--seed') args.seed = Number(argv[++i])
    else if (flag === '--vite' && (argv[i + 1] === '7' || argv[i + 1] === '8')) args.vite = Number(argv[++i]) as 7 | 8
    else if (flag === '--json') args.json = true
    else throw new Error(`unknown option ${flag}; usage: npm run bench:vite -- [--pages 200] [--runs 5] [--vite 8|7] [--json]`)
  }
  if (!(args.pages > 0) || !(args.runs > 0)) throw new Error('--pages and --runs must be positive')
  return args
}

/**
 * A Vite MPA: pages in nested folders, each with inline scripts and styles, style attributes, its own entry
 * module and CSS, and shared modules that Vite splits into chunks (modulepreload links in the built HTML).
 */
async function writeApp(dir: string, args: Args): Promise<Record<string, string>> {
  const write = async (path: string, text: string) => {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), text)
  }
  const random = new Random(streamSeed(args.seed, 7_000_000))
  await write(
    'src/vendor.ts',
    Array.from({ length: 400 }, (_, i) => `export function vendor${i}(a: number): number { return a * ${i} + ${random.int(0, 99)} }`).join('\n'),
  )
  for (let m = 0; m < SHARED_MODULES; m++) {
    await write(
      `src/common/module-${m}.ts`,
      `import { vendor${m} } from '../vendor'\nimport './module-${m}.css'\n` +
        Array.from(
          { length: 40 },
          (_, i) => `export const ${random.pick(WORDS)}_${m}_${i} = (x: string) => x.repeat(${i}) + ${JSON.stringify(words(random, 6))}`,
        ).join('\n') +
        `\nexport function init${m}(): void { document.body.dataset.m${m} = String(vendor${m}(${m})) }\n`,
    )
    await write(
      `src/common/module-${m}.css`,
      `.shared-${m} { color: #${random.int(0, 0xfff).toString(16).padStart(3, '0')}; padding: ${random.int(0, 20)}px }\n`,
    )
  }
  const input: Record<string, string> = {}
  for (let p = 0; p < args.pages; p++) {
    const page = new Random(streamSeed(args.seed, 8_000_000 + p))
    const file = p === 0 ? 'index.html' : `${page.pick(['docs', 'blog', 'guide', 'api'])}/${page.chance(0.5) ? `topic-${page.int(1, 6)}/` : ''}page-${p}.html`
    const shared = page.sample(
      Array.from({ length: SHARED_MODULES }, (_, m) => m),
      page.int(2, 5),
    )
    await write(
      `src/pages/page-${p}.ts`,
      `${shared.map((m) => `import { init${m} } from '../common/module-${m}'`).join('\n')}\nimport './page-${p}.css'\n${shared.map((m) => `init${m}()`).join('\n')}\n`,
    )
    await write(`src/pages/page-${p}.css`, `.page-${p} { display: grid; gap: ${page.int(2, 30)}px }\n`)
    const heading = title(page, false)
    let body = ''
    const target = page.int(15, 60) * 1024
    while (body.length < target) body += contentBlock(page, 0.05)
    body += filler(page, 64)
    const html =
      `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width,initial-scale=1">\n<title>${heading}</title>\n` +
      `<script>document.documentElement.classList.toggle('dark', localStorage.getItem('theme') === 'dark')</script>\n` +
      `<style>:root{--brand:#3451b2}body{margin:0;font:16px/1.6 system-ui}.page-${p} h1{margin-top:0}</style>\n` +
      `<script type="application/ld+json">{"@context":"https://schema.org","@type":"WebPage","name":${JSON.stringify(heading)}}</script>\n` +
      `<script type="module" src="/src/pages/page-${p}.ts"></script>\n</head>\n<body class="page-${p}">\n` +
      `<header style="display:flex;gap:8px">${svgIcon(page)}<a href="/">Home</a></header>\n<main><h1>${heading}</h1>\n${body}</main>\n` +
      `<script>window.dataLayer=window.dataLayer||[];dataLayer.push({page:${JSON.stringify(`/${file}`)}})</script>\n</body>\n</html>\n`
    await write(file, html)
    input[`page${p}`] = join(dir, file)
  }
  return input
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const engine = buildEngine('build', log)
  for (const note of engine.notes) log(`note: ${note}`)
  let cspSeal: (options?: object) => Plugin
  try {
    ;({ cspSeal } = (await import(engine.vitePluginUrl)) as { cspSeal: typeof cspSeal })
  } catch (error) {
    throw new Error(`the Vite plugin (plugins/vite/index.ts) cannot be loaded yet: ${(error as Error).message}`, { cause: error })
  }
  const vite = args.vite === 8 ? await import('vite') : ((await import('vite7')) as unknown as typeof import('vite'))

  const app = join(BENCH_ROOT, `vite-app-s${args.seed}-p${args.pages}-a${APP_VERSION}`)
  await rm(app, { recursive: true, force: true })
  log(`writing a ${args.pages}-page Vite app into ${app}`)
  const input = await writeApp(app, args)
  const htmlBytes = (await Promise.all(Object.values(input).map((path) => readFile(path)))).reduce((n, b) => n + b.length, 0)
  const outDir = join(app, 'dist')

  const config = (sealed: boolean): InlineConfig => ({
    root: app,
    configFile: false,
    logLevel: 'silent',
    appType: 'mpa',
    build: { outDir, emptyOutDir: true, ...(args.vite === 8 ? { rolldownOptions: { input } } : { rollupOptions: { input } }) },
    // The app loads nothing from a CDN; lock-only makes sure a build never goes to the network anyway.
    plugins: sealed ? [timed(cspSeal({ remote: { mode: 'lock-only', lockFile: join(app, 'csp-seal.lock.json') } }))] : [],
  })
  let hookMs: Record<Hook, number> = { seal: 0, check: 0 }
  let hookCpu: Record<Hook, number> = { seal: 0, check: 0 }
  const buildOnce = async (sealed: boolean): Promise<Run> => {
    hookMs = { seal: 0, check: 0 }
    hookCpu = { seal: 0, check: 0 }
    const cpu = process.cpuUsage()
    const started = performance.now()
    await vite.build(config(sealed))
    const ms = performance.now() - started
    const { user, system } = process.cpuUsage(cpu)
    return { ms, cpuMs: (user + system) / 1000, ...hookMs, hookCpu }
  }
  /** The plugin, with the time spent in its build hooks added up per build. */
  function timed(plugin: Plugin): Plugin {
    const hooks = { generateBundle: 'seal', writeBundle: 'check', closeBundle: 'check' } as const
    const wrapped: Record<string, unknown> = { ...plugin }
    for (const [name, hook] of Object.entries(hooks)) {
      const value = plugin[name as keyof typeof hooks] as unknown
      if (!value) continue
      const handler = (typeof value === 'function' ? value : (value as { handler: (...args: unknown[]) => unknown }).handler) as (...args: unknown[]) => unknown
      const measured = async function (this: unknown, ...args: unknown[]) {
        const started = performance.now()
        const cpu = process.cpuUsage()
        try {
          return await handler.apply(this, args)
        } finally {
          hookMs[hook] += performance.now() - started
          const { user, system } = process.cpuUsage(cpu)
          hookCpu[hook] += (user + system) / 1000
        }
      }
      wrapped[name] = typeof value === 'function' ? measured : { ...(value as object), handler: measured }
    }
    return wrapped as unknown as Plugin
  }

  // Both sides warm (modules loaded, code compiled), so the rounds measure what each page costs.
  log(`warm-up builds…`)
  await buildOnce(false)
  // Vite is warm by now and the plugin is not: what this build adds over the plain median is paid once per process.
  const coldSealed = await buildOnce(true)
  const plain: Run[] = []
  const sealed: Run[] = []
  for (let round = 0; round < args.runs; round++) {
    // Alternate which goes first, so drift in the machine's load does not favour one side.
    for (const withPlugin of round % 2 ? [true, false] : [false, true]) {
      log(`  round ${round + 1}/${args.runs}: vite build${withPlugin ? ' + cspSeal()' : ''}…`)
      ;(withPlugin ? sealed : plain).push(await buildOnce(withPlugin))
    }
  }
  // The last build was sealed when runs is odd, else plain: seal once more if needed to check the output.
  if (args.runs % 2 === 0) await buildOnce(true)
  const builtPages = (await readdir(outDir, { recursive: true })).filter((f) => f.endsWith('.html'))
  let sealedPages = 0
  for (const file of builtPages) if ((await readFile(join(outDir, file), 'utf8')).includes('http-equiv="Content-Security-Policy"')) sealedPages++
  if (sealedPages !== args.pages) throw new Error(`only ${sealedPages} of ${args.pages} built pages carry a policy: the plugin did not seal the build`)

  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = sorted.length >> 1
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  }
  const plainMs = median(plain.map((r) => r.ms))
  const sealedMs = median(sealed.map((r) => r.ms))
  const plainCpu = median(plain.map((r) => r.cpuMs))
  const sealedCpu = median(sealed.map((r) => r.cpuMs))
  // Each round's two builds ran back to back, under the same load: the median of their differences is steadier
  // than the difference of the medians when the machine's load drifts.
  const perPage = median(sealed.map((r, i) => r.ms - plain[i]!.ms)) / args.pages
  const perPageCpu = median(sealed.map((r, i) => r.cpuMs - plain[i]!.cpuMs)) / args.pages
  const coldMs = coldSealed.ms - plainMs
  const sealMs = median(sealed.map((r) => r.seal))
  const checkMs = median(sealed.map((r) => r.check))
  const sealCpu = median(sealed.map((r) => r.hookCpu.seal))
  const checkCpu = median(sealed.map((r) => r.hookCpu.check))
  const result = {
    vite: vite.version,
    pages: args.pages,
    htmlBytes,
    runs: args.runs,
    plain: { medianMs: plainMs, medianCpuMs: plainCpu, ms: plain.map((r) => r.ms) },
    sealed: { medianMs: sealedMs, medianCpuMs: sealedCpu, ms: sealed.map((r) => r.ms), medianSealMs: sealMs, medianCheckMs: checkMs },
    addedMsPerPage: perPage,
    addedCpuMsPerPage: perPageCpu,
    hookMsPerPage: { seal: sealMs / args.pages, check: checkMs / args.pages },
    hookCpuMsPerPage: { seal: sealCpu / args.pages, check: checkCpu / args.pages },
    firstSealedBuild: { ms: coldSealed.ms, addedMs: coldMs },
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverage: loadavg() },
  }
  if (args.json) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  console.log(`\nVite ${vite.version}, ${args.pages}-page multi-page app (${(htmlBytes / 1e6).toFixed(1)} MB of HTML), median of ${args.runs} build(s) each:`)
  console.log(`  vite build               ${s(plainMs)}   (CPU ${s(plainCpu)})`)
  console.log(`  vite build + cspSeal()   ${s(sealedMs)}   (CPU ${s(sealedCpu)})`)
  console.log(
    `  added by csp-seal: ${perPage.toFixed(1)} ms per page (CPU ${perPageCpu.toFixed(1)} ms), median of the rounds' differences  (target ≤ 5 ms)${perPage <= 5 ? '  ✓' : '  ✗ misses the target'}`,
  )
  console.log(
    `    in its hooks: seal (generateBundle) ${(sealMs / args.pages).toFixed(2)} ms (CPU ${(sealCpu / args.pages).toFixed(2)} ms), check (writeBundle + closeBundle) ${(checkMs / args.pages).toFixed(2)} ms (CPU ${(checkCpu / args.pages).toFixed(2)} ms) per page`,
  )
  console.log(`  first sealed build in this process (plugin not yet loaded and compiled): +${(coldMs / 1000).toFixed(2)} s over the plain median, one sample`)
  console.log(
    `\n(${cpus().length}× ${cpus()[0]?.model}, Node ${process.version}; load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}; the machine is shared, so expect noise)`,
  )
}

try {
  await main()
} catch (error) {
  console.error(`bench:vite: ${(error as Error).message.split('\n').slice(0, 20).join('\n')}`)
  process.exitCode = 1
}
