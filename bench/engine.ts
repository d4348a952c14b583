/**
 * What the bench measures: csp-seal compiled from the current sources into bench/out/build (with the bench's
 * child scripts), so measured runs load plain JavaScript — worker threads included — and never a stale dist/.
 * `--engine dist` measures the package's dist/ as built by `npm run build` instead.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
export const REPO = resolve(BENCH_DIR, '..')
const BUILD = join(BENCH_DIR, 'out', 'build')

export interface Engine {
  source: 'build' | 'dist'
  /** The compiled child script that runs one measured variant. */
  child: string
  /** `csp-seal` entry point (sealDirectory, sealHtml, …). */
  engineUrl: string
  /** `csp-seal/vite` entry point. */
  vitePluginUrl: string
  notes: string[]
}

export function buildEngine(source: 'build' | 'dist', log: (line: string) => void): Engine {
  const notes: string[] = []
  log('compiling the engine and the bench scripts (tsc -p bench/tsconfig.build.json)…')
  const tsc = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(BENCH_DIR, 'tsconfig.build.json')], {
    cwd: REPO,
    encoding: 'utf8',
  })
  const child = join(BUILD, 'bench', 'child.js')
  if (tsc.status !== 0) {
    const errors = `${tsc.stdout}${tsc.stderr}`.split('\n').filter((line) => line.includes('error'))
    if (!existsSync(child) || errors.length === 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`)
    // Someone is mid-change: tsc still emitted JavaScript, and that is what runs.
    notes.push(`the sources have ${errors.length} type error(s); measured the JavaScript tsc emitted anyway (first: ${errors[0]!.trim()})`)
  }
  if (source === 'build') {
    return {
      source,
      child,
      engineUrl: pathToFileURL(join(BUILD, 'src', 'index.js')).href,
      vitePluginUrl: pathToFileURL(join(BUILD, 'plugins', 'vite', 'index.js')).href,
      notes,
    }
  }
  const dist = join(REPO, 'dist', 'src', 'index.js')
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build`, or drop --engine dist')
  notes.push(`measured dist/ as built at ${statSync(dist).mtime.toISOString()} (run \`npm run build\` first if the sources changed since)`)
  return { source, child, engineUrl: pathToFileURL(dist).href, vitePluginUrl: pathToFileURL(join(REPO, 'dist', 'plugins', 'vite', 'index.js')).href, notes }
}
