/**
 * The npm package as users get it: packed from this checkout, installed into a new project, and used from
 * TypeScript under each module resolution a project may use.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = new URL('..', import.meta.url).pathname
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
const exec = promisify(execFile)

let work: string
let tarball: string
let files: string[]
let consumer: string
let installLog: string

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'csp-seal-package-'))
  // The suite built dist/ (pretest); packing must not rebuild it under the other test files' feet.
  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 << 20 })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = join(work, packed!.filename)
  files = packed!.files.map((f) => f.path)
  consumer = join(work, 'consumer')
  await mkdir(consumer)
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }))
  const env = {
    ...process.env,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    NO_COLOR: '1',
  }
  const installed = await exec('npm', ['install', '--no-save', tarball], { cwd: consumer, env, maxBuffer: 64 << 20 })
  installLog = `${installed.stdout}\n${installed.stderr}`
}, 600_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('the packed package', () => {
  it('ships the licence, readme, changelog, security policy, architecture and docs, and no source map', () => {
    for (const file of [
      'LICENSE',
      'README.md',
      'CHANGELOG.md',
      'SECURITY.md',
      'ARCHITECTURE.md',
      'package.json',
      'docs/reference.md',
      'docs/server.md',
      'docs/vite.md',
      'docs/webpack.md',
      'dist/src/cli/bin.js',
    ]) {
      expect(files, file).toContain(file)
    }
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([])
    expect(files.filter((f) => f.endsWith('.test.js') || f.endsWith('.test.d.ts'))).toEqual([])
  })

  it('links only to shipped files or to absolute URLs from its markdown', async () => {
    const dangling: string[] = []
    for (const file of files.filter((f) => f.endsWith('.md'))) {
      const text = await readFile(join(ROOT, file), 'utf8')
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue
        const path = posix.normalize(posix.join(posix.dirname(file), target!.split('#')[0]!))
        if (!files.includes(path)) dangling.push(`${file} → ${target}`)
      }
    }
    expect(dangling).toEqual([])
  })

  it('says where it lives, and has no install script for npm to warn about', async () => {
    const pkg = JSON.parse(await readFile(join(consumer, 'node_modules/csp-seal/package.json'), 'utf8'))
    expect(pkg.repository?.url).toMatch(/^git\+https:\/\//)
    expect(pkg.homepage).toMatch(/^https:\/\//)
    expect(pkg.bugs?.url).toMatch(/^https:\/\//)
    expect(pkg.license).toBe('MIT')
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts?.[script], script).toBeUndefined()
    expect(installLog).not.toMatch(/install-scripts|prepare/)
  })

  it('runs its CLI from the installed package', async () => {
    const site = join(work, 'site')
    await mkdir(site)
    await writeFile(join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><script>1</script>')
    const { stdout } = await exec(join(consumer, 'node_modules/.bin/csp-seal'), [site], { cwd: consumer, env: { ...process.env, NO_COLOR: '1' } })
    expect(stdout).toMatch(/sealed 1 page/)
  })

  // A consumer of every entry point; the typo must be caught by the types, the rest must type-check.
  const consumerSource = `
import { defineConfig, sealDirectory, type CspSealConfig } from 'csp-seal'
import { cspSeal } from 'csp-seal/vite'
import { CspSealPlugin } from 'csp-seal/webpack'
import { createMiddleware, createHandler } from 'csp-seal/server'
import { cspSealBuildEnd } from 'csp-seal/vitepress'
import astro from 'csp-seal/astro'
import docusaurus from 'csp-seal/docusaurus'

export const config: CspSealConfig = defineConfig({ policy: { 'script-src': ["'self'"], 'upgrade-insecure-requests': true } })
// @ts-expect-error a misspelt directive name
export const typo = defineConfig({ policy: { 'scirpt-src': ["'self'"] } })
export const uses = [sealDirectory, cspSeal, CspSealPlugin, createMiddleware, createHandler, cspSealBuildEnd({ policy: { 'img-src': ["'self'"] } }), astro(), docusaurus({ siteDir: '.' }, {})]
`
  for (const [resolution, module] of [
    ['node', 'commonjs'],
    ['node16', 'node16'],
    ['bundler', 'esnext'],
  ] as const) {
    it(`types resolve for every entry point under moduleResolution ${resolution}`, async () => {
      const dir = join(consumer, `ts-${resolution}`)
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, 'consumer.ts'), consumerSource)
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { module, moduleResolution: resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: [] },
          files: ['consumer.ts'],
        }),
      )
      const result = await exec('node', [TSC, '-p', dir], { cwd: dir }).then(
        () => '',
        (error: { stdout: string }) => error.stdout,
      )
      expect(result).toBe('')
    }, 300_000)
  }
})
