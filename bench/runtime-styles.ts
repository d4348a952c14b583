/**
 * Cost of `runtimeStyles` (reading the site's scripts for the inline styles they insert):
 *   npm run bench:runtime-styles                 every framework fixture and a generated 1,000-page site
 *   npm run bench:runtime-styles -- --pages N    a generated site of N pages
 * For each site: the scripts read (files, bytes), the time to read and parse them (median of 5 runs, after one
 * warm-up), and a dry run of the whole seal with and without `runtimeStyles` (median of 3).
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { resolveConfig } from '../src/config.js'
import { siteRuntimeStyles } from '../src/site/runtime-styles.js'
import { sealDirectory } from '../src/site/site.js'
import { DEFAULT_SITE, ensureCorpus } from './generate.js'

const FRAMEWORKS = new URL('../fixtures/frameworks/', import.meta.url).pathname
const pagesFlag = process.argv.indexOf('--pages')
const pages = pagesFlag > 0 ? Number(process.argv[pagesFlag + 1]) : 1000

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function timed(runs: number, task: () => unknown): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await task()
    times.push(performance.now() - start)
  }
  return median(times)
}

function scriptBytes(root: string): number {
  let total = 0
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && /\.(?:m|c)?js$/i.test(entry.name) && !entry.parentPath.includes('node_modules'))
      total += statSync(join(entry.parentPath, entry.name)).size
  }
  return total
}

const sites: Array<{ name: string; root: string; cwd?: string }> = readdirSync(FRAMEWORKS)
  .sort()
  .map((name) => ({ name, root: join(FRAMEWORKS, name, 'site') }))
const corpus = await ensureCorpus({ ...DEFAULT_SITE, pages }, (line) => console.error(line))
sites.push({ name: `generated-${pages}`, root: corpus.site, cwd: corpus.dir })

const config = resolveConfig({ remote: { mode: 'lock-only' } })
const off = resolveConfig({ remote: { mode: 'lock-only' }, runtimeStyles: false })
console.log('| site | scripts | script KB | found (style, attribute) | read + parse ms | dry run ms, off | dry run ms, on |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const site of sites) {
  const found = siteRuntimeStyles(site.root, config)
  const scan = await timed(5, () => siteRuntimeStyles(site.root, config))
  const dry = (c: typeof config) => timed(3, () => sealDirectory(site.root, c, { mode: 'dry-run', cwd: site.cwd }))
  const without = await dry(off)
  const withIt = await dry(config)
  console.log(
    `| ${site.name} | ${found.counts.files} | ${(scriptBytes(site.root) / 1024).toFixed(0)} | ${found.counts.styles}, ${found.counts.styleAttributes} | ${scan.toFixed(0)} | ${without.toFixed(0)} | ${withIt.toFixed(0)} |`,
  )
}
