import { execFile } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { removeDir, snapshot, useTempDirs } from './support/sites.js'

// The CLI as users run it: the built bin in a child process.
const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const run = async (args: string[], cwd?: string) => {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const { fixture, track } = useTempDirs()

describe('csp-seal CLI', () => {
  it('seals a folder, prints a summary, and --check passes afterwards', async () => {
    const dir = await fixture('example-site')
    const sealed = await run([dir, '--headers', 'netlify'])
    expect(sealed.code).toBe(0)
    expect(sealed.stdout).toMatch(/sealed 11 pages/)
    expect(sealed.stdout).toMatch(/written\s+13 files/) // 11 pages, the manifest and _headers
    expect(sealed.stdout).not.toMatch(/would change|unsealed/)
    expect(sealed.stdout).toMatch(/inline hashes\s+\d+ script, \d+ style, \d+ attribute/)
    expect(sealed.stdout).toMatch(/event-handler ×3/)
    expect(sealed.stdout).toMatch(/interactive\.html:\d+:\d+: inline event handler onclick=/)
    const check = await run([dir, '--check', '--headers', 'netlify'])
    expect(check.code).toBe(0)
    expect(check.stdout).toMatch(/unsealed\s+0 pages/)
  })

  it('--check exits 1 naming the drifted element, and writes nothing', async () => {
    const dir = await fixture('example-site')
    expect((await run([dir])).code).toBe(0)
    const page = join(dir, 'docs/guide/index.html')
    await writeFile(page, (await readFile(page, 'utf8')).replace('<h1', '<style>h1{color:red}</style><h1'))
    const before = await snapshot(dir)
    const check = await run([dir, '--check'])
    expect(check.code).toBe(1)
    expect(check.stderr).toMatch(/docs\/guide\/index\.html:\d+:\d+: this inline <style> is not allowed by the page's policy/)
    expect(await snapshot(dir)).toEqual(before)
  })

  it('--dry-run and --report write nothing in the site but the report', async () => {
    const dir = await fixture('example-site')
    const before = await snapshot(dir)
    const reportFile = join(dir, '..', `${dir.split('/').pop()}-report.json`)
    const result = await run([dir, '--dry-run', '--report', reportFile])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/would change\s+11 pages/)
    expect(await snapshot(dir)).toEqual(before)
    const report = JSON.parse(await readFile(reportFile, 'utf8'))
    expect(report.pages).toHaveLength(11)
    expect(report.pages[0].policy).toMatch(/^default-src 'self'; /)
    expect(report.pages[0].nonceSlots.tags.length).toBeGreaterThan(0)
    await removeDir(reportFile)
  })

  it('exits 1 with every problem, and leaves the folder untouched, on bad pages', async () => {
    const dir = await fixture('bad-site')
    const before = await snapshot(dir)
    const result = await run([dir])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/2 problems in 2 files; nothing was written/)
    expect(result.stderr).toMatch(/latin1\.html: the page is not valid UTF-8/)
    expect(result.stderr).toMatch(/missing-script\.html:9:\d+: assets\/widget\.js resolves to/)
    expect(await snapshot(dir)).toEqual(before)
  })

  it('--help lists every option, without calling --no-meta a default', async () => {
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    for (const flag of [
      '--out',
      '--policy',
      '--policy-base',
      '--headers',
      '--exclude',
      '--no-meta',
      '--remote',
      '--trust-origin',
      '--check',
      '--dry-run',
      '--report',
      '--json',
    ])
      expect(help.stdout).toContain(flag)
    expect(help.stdout).toMatch(/--no-meta +Do not write the policy meta tag \(headers and manifest only\)\s*\n/)
    expect(help.stdout).not.toContain('(default: true)')
  })

  it('rejects an invalid policy, naming the value', async () => {
    const dir = await fixture('example-site')
    const result = await run([dir, '--policy', "default-src 'self'; script-src 'self' 'nonce-r4nd0m'"])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/a literal nonce 'nonce-r4nd0m' in script-src/)
  })

  it('exits 2 on usage errors', async () => {
    expect((await run(['--bogus'])).code).toBe(2)
    expect((await run(['x', '--hash', 'md5'])).code).toBe(2)
    expect((await run(['x', '--headers', 'apache'])).code).toBe(2)
    expect((await run(['x', '--check', '--dry-run'])).code).toBe(2)
    expect((await run(['x', '--remote', 'always'])).code).toBe(2)
    expect((await run(['x', '--remote-errors', 'ignore'])).code).toBe(2)
    expect((await run(['x', '--config', 'nope.ts'])).code).toBe(2)
  })

  it('loads csp-seal.config.ts from the current folder; flags override it', async () => {
    const dir = await fixture('example-site')
    const cwd = await mkdtemp(join(tmpdir(), 'csp-seal-cwd-'))
    track(cwd)
    await writeFile(
      join(cwd, 'csp-seal.config.ts'),
      "import type { CspSealConfig } from 'csp-seal'\nconst config: CspSealConfig = { policy: \"default-src 'self'; img-src https://img.example.com\", headers: ['nginx'] }\nexport default config\n",
    )
    const result = await run([dir, '--hash', 'sha384'], cwd)
    expect(result.code).toBe(0)
    const html = await readFile(join(dir, 'index.html'), 'utf8')
    expect(html).toMatch(/img-src https:\/\/img\.example\.com/)
    expect(html).toMatch(/'sha384-/)
    expect(html).not.toMatch(/'sha256-/)
    expect(await readFile(join(dir, 'csp-seal.nginx.conf'), 'utf8')).toContain('location = "/index.html"')
  })

  it('reports a config file that does not load', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'csp-seal-cwd-'))
    track(cwd)
    await writeFile(join(cwd, 'broken.config.mjs'), 'export default {{')
    const result = await run(['x', '--config', 'broken.config.mjs'], cwd)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/broken\.config\.mjs:1:\d+: syntax error in the config/)
    await writeFile(join(cwd, 'throws.config.mjs'), "throw new Error('no such secret')")
    const thrown = await run(['x', '--config', 'throws.config.mjs'], cwd)
    expect(thrown.code).toBe(1)
    expect(thrown.stderr).toMatch(/throws\.config\.mjs: cannot load the config: no such secret/)
  })

  it('prints a clear error when the folder does not exist', async () => {
    const result = await run(['/nonexistent/dist'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/\/nonexistent\/dist is not a folder/)
  })
})
