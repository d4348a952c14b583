import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { PROBLEM_CODES } from '../src/problems.js'

/** The codes in the first column of the table under `heading` in a docs page (`a`, `b` | kind | meaning). */
function codesInTable(page: string, heading: string): string[] {
  const text = readFileSync(new URL(`../docs/${page}`, import.meta.url), 'utf8')
  const at = text.indexOf(`\n${heading}\n`)
  if (at < 0) throw new Error(`docs/${page} has no heading "${heading}"`)
  const section = text.slice(at + heading.length + 2).split(/\n#/)[0]!
  const rows = section.split('\n').filter((line) => line.startsWith('| `'))
  return rows.flatMap((row) => [...row.split('|')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!))
}

describe('problem codes', () => {
  const catalogue = Object.keys(PROBLEM_CODES).sort()

  it('docs/reference.md lists exactly the codes of the catalogue in src/problems.ts', () => {
    const documented = codesInTable('reference.md', '## Problem codes')
    expect(new Set(documented).size, 'a code listed twice in the table').toBe(documented.length)
    expect(documented.sort()).toEqual(catalogue)
  })

  it('the Vite and webpack pages name only codes of the catalogue', () => {
    for (const [page, heading] of [
      ['vite.md', '## Problem codes (Vite-specific)'],
      ['webpack.md', '## Problem codes'],
    ] as const) {
      const named = codesInTable(page, heading)
      expect(named.length, `${page} table`).toBeGreaterThan(3)
      expect(
        named.filter((code) => !(code in PROBLEM_CODES)),
        `${page} names codes the catalogue lacks`,
      ).toEqual([])
    }
  })

  it('every code is kebab-case and has a one-line meaning', () => {
    for (const [code, meaning] of Object.entries(PROBLEM_CODES)) {
      expect(code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
      expect(meaning.length, code).toBeGreaterThan(10)
      expect(meaning, code).not.toContain('\n')
    }
  })
})
