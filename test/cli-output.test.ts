/**
 * Where a run's results go: a sealed copy in another folder (`--out`), the report as JSON on stdout (`--json`),
 * and progress with a rate and the time left on a terminal.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { cli } from './support/cli.js'
import { snapshot, useTempDirs } from './support/sites.js'

const { fixture, track } = useTempDirs()
const tempDir = async (name: string) => track(await mkdtemp(join(tmpdir(), `csp-seal-${name}-`)))
const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname

describe('--out', () => {
  it('seals a copy and leaves the site as it was; a second run replaces its own output', async () => {
    const site = await fixture('example-site')
    const parent = await tempDir('out')
    const out = join(parent, 'sealed')
    const before = await snapshot(site)
    const first = await cli([site, '--out', out, '--headers', 'netlify'])
    expect(first.code).toBe(0)
    expect(first.out).toMatch(new RegExp(`sealed 11 pages in ${out} `))
    expect(await snapshot(site)).toEqual(before)
    expect(await readFile(join(out, 'index.html'), 'utf8')).toMatch(/<meta http-equiv="Content-Security-Policy"/)
    expect((await cli([out, '--check'])).code).toBe(0)
    await writeFile(join(out, 'stale.html'), '<p>from an earlier build')
    const second = await cli([site, '--out', out])
    expect(second.code).toBe(0)
    const files = await readdir(out)
    expect(files).not.toContain('stale.html') // replaced whole, not merged
    expect(files).not.toContain('_headers')
    expect((await readdir(parent)).sort()).toEqual(['sealed']) // no staging folder left
    expect(await snapshot(site)).toEqual(before)
  })

  it('refuses a folder that is not an earlier output, and one inside the site, touching nothing', async () => {
    const site = await fixture('example-site')
    const parent = await tempDir('out-refused')
    const mine = join(parent, 'mine')
    await mkdir(mine)
    await writeFile(join(mine, 'notes.txt'), 'keep me')
    const before = await snapshot(site)
    const refused = await cli([site, '--out', mine])
    expect(refused.code).toBe(2)
    expect(refused.err).toMatch(/already exists and is not an earlier csp-seal output/)
    expect(await readFile(join(mine, 'notes.txt'), 'utf8')).toBe('keep me')
    const inside = await cli([site, '--out', join(site, 'sealed')])
    expect(inside.code).toBe(2)
    expect(inside.err).toMatch(/is inside the site folder/)
    const around = await cli([site, '--out', join(site, '..')])
    expect(around.code).toBe(2)
    expect(await snapshot(site)).toEqual(before)
    expect((await readdir(parent)).sort()).toEqual(['mine'])
  })

  it('writes no output folder when a page has a problem', async () => {
    const site = await fixture('bad-site')
    const parent = await tempDir('out-failed')
    const failed = await cli([site, '--out', join(parent, 'sealed')])
    expect(failed.code).toBe(1)
    expect(failed.err).toMatch(/nothing was written/)
    expect(await readdir(parent)).toEqual([])
  })
})

describe('--json', () => {
  const run = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)('node', [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }

  it('prints the report, and nothing else, on stdout', async () => {
    const dir = await fixture('example-site')
    const result = await run([dir, '--json'])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({ ok: true, mode: 'write', policy: { base: 'default', yours: [] } })
    expect(report.pages).toHaveLength(11)
    expect(report.pages.find((p: { file: string }) => p.file === 'index.html').policy).toMatch(/^default-src 'self'; /)
    expect(report.warnings.map((w: { code: string }) => w.code)).toContain('event-handler')
    expect(result.stderr).toMatch(/csp-seal sealed 11 pages/) // the summary, for people reading the log
  })

  it('prints a failed run as a report too', async () => {
    const dir = await fixture('bad-site')
    const result = await run([dir, '--json'])
    expect(result.code).toBe(1)
    const report = JSON.parse(result.stdout)
    expect(report.ok).toBe(false)
    expect(report.problems.map((p: { code: string }) => p.code).sort()).toEqual(['missing-asset', 'not-utf8'])
    const usage = await run([dir, '--json', '--hash', 'md5'])
    expect(usage.code).toBe(2)
    expect(JSON.parse(usage.stdout).problems[0].code).toBe('usage')
  })
})

describe('pages the fast model does not follow', () => {
  it('are scanned from the tree, counted in the summary and listed in the report with the reason', async () => {
    const dir = await fixture('example-site')
    // A table with misplaced content: the tree builder foster-parents it, which the fast model leaves to the tree.
    await writeFile(join(dir, 'table.html'), '<!doctype html><title>t</title><table><tr><td>1</td></tr><p style="color:red">misplaced</p></table>')
    const result = await cli([dir, '--json'])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.out)
    expect(report.treeScans).toBe(1)
    const scanned = report.pages.filter((p: { treeScan?: string[] }) => p.treeScan)
    expect(scanned.map((p: { file: string; treeScan: string[] }) => [p.file, p.treeScan])).toEqual([
      ['table.html', ['foster parenting (content misplaced in a table)']],
    ])
    expect(result.err).toMatch(
      /tree scans +1 page scanned from parse5's tree, slower but as exact \(foster parenting \(content misplaced in a table\); --report lists them\)/,
    )
    // The tree scan is as exact: the misplaced style attribute is hashed like any other.
    expect(scanned[0].attributeHashes).toEqual([`'sha256-${createHash('sha256').update('color:red').digest('base64')}'`])
  })

  it('are not mentioned when there are none', async () => {
    const dir = await fixture('example-site')
    const result = await cli([dir, '--json'])
    expect(JSON.parse(result.out).treeScans).toBe(0)
    expect(result.err).not.toMatch(/tree scans/)
  })
})

describe('progress on a terminal', () => {
  it('shows the pages done, the rate and the time left', async () => {
    const dir = await fixture('example-site')
    const run = await cli([dir], { tty: true })
    expect(run.code).toBe(0)
    expect(run.err).toMatch(/sealing 1\/11 pages · [\d.]+ pages\/s · \d+s left/)
    expect(run.err).toMatch(/sealing 11\/11 pages · [\d.]+ pages\/s/)
  })

  it('words the rate and the time left', async () => {
    const { progressText } = await import('../src/cli/report.js')
    expect(progressText(0, 3000, 0)).toBe('sealing 0/3000 pages')
    expect(progressText(500, 3000, 2000)).toBe('sealing 500/3000 pages · 250 pages/s · 10s left')
    expect(progressText(30, 30_000, 10_000)).toBe('sealing 30/30000 pages · 3.0 pages/s · 2h 46m left')
    expect(progressText(3000, 3000, 12_000)).toBe('sealing 3000/3000 pages · 250 pages/s')
  })
})
