/**
 * Wrong input never passes quietly: a folder without pages, a mistyped flag or option, a config file that does not
 * parse, and the same error on many pages, each reported so that the user sees the cause and the fix at once.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { resolveConfig, SealError, type CspSealConfig } from '../src/index.js'
import { cli } from './support/cli.js'
import { snapshot, useTempDirs } from './support/sites.js'

const { fixture, track } = useTempDirs()
const tempDir = async (name: string) => track(await mkdtemp(join(tmpdir(), `csp-seal-${name}-`)))

describe('a folder with no page', () => {
  it('is an error: exit 1, nothing written', async () => {
    const dir = await tempDir('empty-site')
    await writeFile(join(dir, 'notes.txt'), 'not a page')
    const before = await snapshot(dir)
    const run = await cli([dir])
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/holds no \.html or \.htm page/)
    expect(await snapshot(dir)).toEqual(before)
  })

  it('is an error when the exclude globs leave no page', async () => {
    const dir = await fixture('example-site')
    const run = await cli([dir, '--exclude', '**/*'])
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/every page in .* is excluded/)
  })
})

describe('"did you mean"', () => {
  it('for an unknown flag', async () => {
    const run = await cli(['x', '--polcy', "img-src 'self'"])
    expect(run.code).toBe(2)
    expect(run.err).toMatch(/unknown option --polcy \(did you mean --policy\?\)/)
    expect((await cli(['x', '--dryrun'])).err).toMatch(/did you mean --dry-run\?/)
  })

  it('for an unknown config option, also inside remote', () => {
    const error = (() => {
      try {
        resolveConfig({ hedaers: ['netlify'], remote: { lockfile: 'x.json' } } as unknown as CspSealConfig)
      } catch (e) {
        return e as SealError
      }
    })()
    expect(error).toBeInstanceOf(SealError)
    expect(error!.message).toMatch(/unknown option "hedaers" \(did you mean "headers"\?\)/)
    expect(error!.message).toMatch(/unknown option "remote\.lockfile" \(did you mean "remote\.lockFile"\?\)/)
  })

  it('for a value that is not one of the choices', async () => {
    const run = await cli(['x', '--remote', 'lockonly'])
    expect(run.code).toBe(2)
    expect(run.err).toMatch(/did you mean "lock-only"\?/)
  })
})

describe('a config file that does not parse', () => {
  it('is shown at its line and column, with the line itself (TypeScript)', async () => {
    const cwd = await tempDir('config-ts')
    await writeFile(join(cwd, 'csp-seal.config.ts'), "export default {\n  policy: \"img-src 'self'\",\n  headers: ['netlify'\n}\n")
    const run = await cli(['x'], { cwd })
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/csp-seal\.config\.ts:4:1: syntax error in the config: Unexpected token, expected ","/)
    expect(run.err).toContain("  3 |   headers: ['netlify'")
    expect(run.err).toContain('> 4 | }')
    expect(run.err).toMatch(/\n\s+\| \^/)
  })

  it('is shown at its line and column, with the line itself (JSON)', async () => {
    const cwd = await tempDir('config-json')
    await writeFile(join(cwd, 'csp-seal.config.json'), '{\n  "policy": "img-src \'self\'",\n  "headers": ["netlify",]\n}\n')
    const run = await cli(['x'], { cwd })
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/csp-seal\.config\.json:3:25: syntax error in the config: unexpected "]"/)
    expect(run.err).toContain('> 3 |   "headers": ["netlify",]')
  })
})

describe('errors on many pages', () => {
  it('are grouped as warnings are: the count, a few places, the fix once', async () => {
    const dir = await tempDir('many-errors')
    await mkdir(join(dir, 'blog'))
    for (let i = 0; i < 40; i++) {
      await writeFile(
        join(dir, `blog/post-${String(i).padStart(2, '0')}.html`),
        '<!doctype html><meta charset="utf-8">\n<script src="/assets/analytics.js"></script>\n<p>post</p>\n',
      )
    }
    const before = await snapshot(dir)
    const run = await cli([dir])
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/40 problems in 40 files; nothing was written/)
    expect(run.err).toMatch(/missing-asset ×40/)
    expect(run.err).toMatch(/\/assets\/analytics\.js resolves to "assets\/analytics\.js" in the site folder, and there is no such file \(40 times\)/)
    expect(run.err).toMatch(/e\.g\. blog\/post-00\.html:2:1, blog\/post-01\.html:2:1, blog\/post-02\.html:2:1, and 37 more/)
    expect(run.err.match(/fix:/g)).toHaveLength(1)
    expect(run.err.split('\n').length).toBeLessThan(10)
    expect(await snapshot(dir)).toEqual(before)
  })
})
