/**
 * The layers of ARCHITECTURE.md, checked on every import of the sources: a module imports only from its own layer
 * or the layers below it, and no chain of imports comes back to where it started.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { globSync } from 'tinyglobby'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')

/** Bottom first: the layer of a module is the first entry its path starts with. */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['src/problems.ts', 'src/did-you-mean.ts', 'src/safe-fs.ts'],
  ['src/html/', 'src/js/'],
  ['src/csp/'],
  ['src/config.ts', 'src/sri/'],
  ['src/seal/'],
  ['src/output/'],
  ['src/site/'],
  ['src/crawl/', 'src/server/'],
  ['src/cli/', 'src/index.ts', 'plugins/'],
]

function layerOf(file: string): number {
  const layer = LAYERS.findIndex((prefixes) => prefixes.some((prefix) => file === prefix || (prefix.endsWith('/') && file.startsWith(prefix))))
  if (layer < 0) throw new Error(`${file} is in no layer: add its folder to LAYERS and to ARCHITECTURE.md`)
  return layer
}

/** Every relative import of every source module (static, dynamic and re-exports), as repository paths. */
function importGraph(): Map<string, string[]> {
  const files = globSync(['src/**/*.ts', 'plugins/**/*.ts'], { cwd: ROOT, ignore: ['**/*.test.ts'] }).sort()
  const graph = new Map<string, string[]>()
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true)
    const targets = importedFiles.map((ref) => ref.fileName).filter((name) => name.startsWith('.'))
    graph.set(
      file,
      targets.map((name) => relative(ROOT, normalize(join(ROOT, dirname(file), name))).replace(/\.js$/, '.ts')),
    )
  }
  return graph
}

function upwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  return [...graph].flatMap(([file, targets]) => targets.filter((target) => layerOf(target) > layerOf(file)).map((target) => `${file} imports ${target}`))
}

/** Each cycle found by a depth-first walk, as the chain of modules that closes it. */
function cyclesIn(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' → '))
      return
    }
    state.set(file, 'open')
    for (const target of graph.get(file) ?? []) visit(target, [...path, file])
    state.set(file, 'done')
  }
  for (const file of graph.keys()) visit(file, [])
  return cycles
}

const graph = importGraph()

describe('the layers', () => {
  it('sees the whole source tree', () => {
    expect(graph.size).toBeGreaterThan(80)
    for (const targets of graph.values()) for (const target of targets) expect(graph.has(target), target).toBe(true)
  })

  it('imports point down: a module imports only from its own layer or a lower one', () => {
    expect(upwardImports(graph)).toEqual([])
  })

  it('has no import cycle', () => {
    expect(cyclesIn(graph)).toEqual([])
  })

  it('would name an upward import, a cycle and a module outside every layer', () => {
    const bad = new Map([
      ['src/seal/page.ts', ['src/output/manifest.ts']],
      ['src/output/manifest.ts', ['src/output/headers.ts']],
      ['src/output/headers.ts', ['src/output/manifest.ts']],
    ])
    expect(upwardImports(bad)).toEqual(['src/seal/page.ts imports src/output/manifest.ts'])
    expect(cyclesIn(bad)).toEqual(['src/output/manifest.ts → src/output/headers.ts → src/output/manifest.ts'])
    expect(() => layerOf('src/elsewhere/x.ts')).toThrow(/in no layer/)
  })
})
