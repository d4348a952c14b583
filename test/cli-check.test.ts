/**
 * `--check` checks the folder as the last run wrote it: with that run's options (recorded in the manifest), every
 * header file csp-seal wrote there, the asset that changed named as the cause, and a summary that counts what it
 * checked.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cli } from './support/cli.js'
import { snapshot, useTempDirs } from './support/sites.js'

const { fixture } = useTempDirs()

describe('csp-seal --check', () => {
  it('uses the options the sealing run recorded: no flag needs repeating', async () => {
    const dir = await fixture('example-site')
    const sealed = await cli([dir, '--hash', 'sha384', '--headers', 'netlify,nginx', '--policy', "img-src 'self' https://img.example.com"])
    expect(sealed.code).toBe(0)
    const manifest = JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8'))
    expect(manifest.options).toMatchObject({ hashAlgorithm: 'sha384', headers: ['netlify', 'nginx'], policyBase: 'none' })
    expect(manifest.options.policy).toMatch(/img-src 'self' https:\/\/img\.example\.com/)
    const before = await snapshot(dir)
    const check = await cli([dir, '--check'])
    expect(check.err).toBe('')
    expect(check.code).toBe(0)
    expect(check.out).toMatch(/checked 11 pages and csp-seal\.json, _headers, csp-seal\.nginx\.conf/)
    expect(check.out).toMatch(/policy\s+as recorded in csp-seal\.json by the run that sealed the folder\n/)
    expect(check.out).toMatch(/unsealed\s+0 pages\n/)
    expect(await snapshot(dir)).toEqual(before)
    // An option given now replaces the recorded one, and the summary says so.
    const other = await cli([dir, '--check', '--hash', 'sha256'])
    expect(other.code).toBe(1)
    expect(other.out).toMatch(/except hashAlgorithm given now/)
  })

  it('fails when a header file csp-seal wrote was edited, though --headers is not repeated', async () => {
    const dir = await fixture('example-site')
    expect((await cli([dir, '--headers', 'netlify'])).code).toBe(0)
    const headers = join(dir, '_headers')
    const text = await readFile(headers, 'utf8')
    expect(text).toMatch(/script-src 'self'/)
    await writeFile(headers, text.replaceAll("script-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'"))
    const check = await cli([dir, '--check'])
    expect(check.code).toBe(1)
    expect(check.err).toMatch(/_headers: differs from what csp-seal writes for these pages/)
  })

  it('finds the header files csp-seal wrote even without recorded options', async () => {
    const dir = await fixture('example-site')
    const cwd = await fixture('example-site') // any folder, for the config file
    await writeFile(join(cwd, 'csp-seal.config.json'), JSON.stringify({ manifest: false, headers: ['netlify'] }))
    expect((await cli([dir], { cwd })).code).toBe(0)
    await writeFile(join(cwd, 'csp-seal.config.json'), JSON.stringify({ manifest: false }))
    expect((await cli([dir, '--check'], { cwd })).code).toBe(0)
    const headers = join(dir, '_headers')
    await writeFile(headers, (await readFile(headers, 'utf8')).replaceAll("object-src 'none'", 'object-src *'))
    const check = await cli([dir, '--check'], { cwd })
    expect(check.code).toBe(1)
    expect(check.err).toMatch(/_headers: differs from what csp-seal writes/)
  })

  it('blames a changed asset, not the manifest, and counts every page it checked', async () => {
    const dir = await fixture('example-site')
    expect((await cli([dir])).code).toBe(0)
    await writeFile(join(dir, 'assets/site.css'), `${await readFile(join(dir, 'assets/site.css'), 'utf8')}\nbody { color: red }\n`)
    const loading = [...(await snapshot(dir))].filter(([file, bytes]) => /\.html?$/.test(file) && bytes.toString().includes('site.css')).length
    expect(loading).toBeGreaterThan(1)
    const check = await cli([dir, '--check'])
    expect(check.code).toBe(1)
    expect(check.err).not.toMatch(/stale-output/)
    expect(check.err).not.toMatch(/csp-seal\.json/)
    expect(check.out).toMatch(/checked 11 pages/)
    expect(check.err).toMatch(/integrity of [^ ]*assets\/site\.css no longer matches assets\/site\.css/)
    expect(check.err).toMatch(/integrity-drift ×\d+/)
    expect(check.out).toMatch(new RegExp(`unsealed\\s+${loading} pages`))
  })
})
