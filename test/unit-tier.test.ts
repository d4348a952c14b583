import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { globSync } from 'tinyglobby'
import { ALL_TESTS, MOCKING_TESTS } from '../vitest.config.js'
import { UNIT_TESTS } from '../vitest.unit.config.js'

/**
 * The unit tier's rule, checked on everything its tests import (transitively, through relative imports): no
 * browser driver, no built package (dist/ or the package's own name, which resolves to dist/), no helper that
 * starts a server or a browser, and no test code that starts a process or a server.
 */
const ROOT = join(import.meta.dirname, '..')
const FORBIDDEN_PACKAGES = [/^playwright(-core)?$/, /^puppeteer(-core)?$/, /^csp-seal(\/|$)/, /^vite7?$/, /^webpack$/, /^@rspack\//]
const FORBIDDEN_IN_TESTS = /^node:(child_process|http|https|http2|net|cluster)$/
const SERVER_AND_BROWSER_HELPERS = /^test\/support\/(browser|static-server|fetch-server|cdn|nginx|vite|webpack-app|frameworks|engines\/.*)\.ts$/

/**
 * What a file imports. Type-only imports are erased by TypeScript and load nothing. `import()` in the product's
 * sources loads on demand, only when that code runs (the crawl command's browser driver); a test's own `import()`
 * counts.
 */
function specifiersOf(source: string, file: string): string[] {
  const found = [
    ...source.matchAll(
      /(?:^|\n)\s*(?:import|export)\b(?!\s+type\b)[^'"`;]*?from\s*['"]([^'"]+)['"]|(?<!typeof\s)\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g,
    ),
  ]
  const onDemand = (m: RegExpMatchArray) => m[2] !== undefined && file.startsWith('src/')
  return found.filter((m) => !onDemand(m)).map((m) => (m[1] ?? m[2] ?? m[3])!)
}

/** Every file (repository-relative) a unit test reaches, and every package or built file it names. */
function reach(entry: string): { files: Set<string>; outside: Array<{ from: string; specifier: string }> } {
  const files = new Set<string>()
  const outside: Array<{ from: string; specifier: string }> = []
  const queue = [entry]
  while (queue.length) {
    const file = queue.pop()!
    if (files.has(file)) continue
    files.add(file)
    for (const specifier of specifiersOf(readFileSync(join(ROOT, file), 'utf8'), file)) {
      if (!specifier.startsWith('.')) {
        outside.push({ from: file, specifier })
        continue
      }
      const target = relative(ROOT, join(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts')
      if (target.startsWith('dist/') || !target.endsWith('.ts')) outside.push({ from: file, specifier: target })
      else queue.push(target)
    }
  }
  return { files, outside }
}

describe('the unit tier (npm run test:unit)', () => {
  it('lists test files that exist, once each', () => {
    expect(UNIT_TESTS.filter((file) => !existsSync(join(ROOT, file)))).toEqual([])
    expect(new Set(UNIT_TESTS).size).toBe(UNIT_TESTS.length)
  })

  it('finds the imports it checks (the import reader works)', () => {
    const source =
      "import { a } from './a.js'\nimport type { B } from \"b\"\nexport { c } from '../c.js'\nawait import('d')\ntype F = typeof import('f')\nimport 'e'"
    expect(specifiersOf(source, 'test/x.test.ts')).toEqual(['./a.js', '../c.js', 'd', 'e'])
    expect(specifiersOf(source, 'src/x.ts')).toEqual(['./a.js', '../c.js', 'e'])
    expect(reach('test/browser-unsealed.test.ts').files.has('test/support/browser.ts')).toBe(true)
  })

  for (const test of UNIT_TESTS) {
    it(`${test} needs no browser, server, process or build`, () => {
      const { files, outside } = reach(test)
      const wrong = [
        ...[...files].filter((file) => SERVER_AND_BROWSER_HELPERS.test(file)).map((file) => `${file} (starts a server or a browser)`),
        ...outside
          .filter(({ specifier }) => FORBIDDEN_PACKAGES.some((p) => p.test(specifier)) || specifier.startsWith('dist/'))
          .map(({ from, specifier }) => `${from} imports ${specifier}`),
        ...outside
          .filter(({ from, specifier }) => from.startsWith('test/') && FORBIDDEN_IN_TESTS.test(specifier))
          .map(({ from, specifier }) => `${from} imports ${specifier}`),
      ]
      expect(wrong, 'move the test out of UNIT_TESTS in vitest.unit.config.ts, or drop what it needs').toEqual([])
    })
  }
})

describe('module registries (vitest.config.ts)', () => {
  it("gives exactly the test files that mock a module a registry of their own (the others share their worker's modules)", () => {
    const mocking = globSync(ALL_TESTS, { cwd: ROOT }).filter((file) => /\bvi\.(do)?mock\(/.test(readFileSync(join(ROOT, file), 'utf8')))
    expect(mocking.length).toBeGreaterThan(0)
    expect(mocking.sort()).toEqual([...MOCKING_TESTS].sort())
  })
})
