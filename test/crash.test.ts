/**
 * Crash safety: a run that dies at any point leaves every file either as it was or as sealed (never half
 * written), and the next run completes. Two ways to die: a write that fails midway (injected), and the
 * process killed with SIGKILL at several moments of a real CLI run.
 */
import { execFile, spawn } from 'node:child_process'
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { sealDirectory, SealError } from '../src/index.js'
import { copyFixture, removeDir, snapshot } from './support/sites.js'

// Every rename and page write in the sealer goes through these mocks, so a test can make the Nth one fail.
let failRenameAt = Infinity
let renames = 0
let failWriteAt = Infinity
let writes = 0
vi.mock('node:fs/promises', async (original) => {
  const actual = await original<typeof import('node:fs/promises')>()
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (++renames === failRenameAt) throw Object.assign(new Error('ENOSPC: no space left on device, rename'), { code: 'ENOSPC' })
      return actual.rename(from, to)
    },
  }
})
vi.mock('node:fs', async (original) => {
  const actual = await original<typeof import('node:fs')>()
  return {
    ...actual,
    writeFileSync: (...args: Parameters<typeof actual.writeFileSync>) => {
      if (++writes === failWriteAt) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      return actual.writeFileSync(...args)
    },
  }
})

const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const dirs: string[] = []
afterEach(async () => {
  failRenameAt = Infinity
  failWriteAt = Infinity
  await Promise.all(dirs.splice(0).map(removeDir))
})

/** The example site plus copies of it in sub-folders: enough pages for worker threads and a measurable run. */
async function bigSite(copies: number): Promise<string> {
  const dir = await copyFixture('example-site')
  dirs.push(dir)
  const original = await copyFixture('example-site')
  for (let i = 0; i < copies; i++) await cp(original, join(dir, `s${i}`), { recursive: true })
  await removeDir(original)
  return dir
}

async function sealedVersionOf(site: string): Promise<Map<string, Buffer>> {
  const copy = `${site}-sealed`
  await cp(site, copy, { recursive: true })
  dirs.push(copy)
  await sealDirectory(copy, { headers: ['netlify'] }, { workers: 1 })
  return snapshot(copy)
}

function expectEachFileOldOrNew(now: Map<string, Buffer>, before: Map<string, Buffer>, after: Map<string, Buffer>) {
  for (const [file, bytes] of now) {
    if (file.startsWith('.csp-seal-staging-') || file === '.csp-seal-running') continue // removed or taken over by the next run
    const known = [before.get(file), after.get(file)].filter(Boolean) as Buffer[]
    expect(
      known.some((b) => b.equals(bytes)),
      `${file} is neither the old nor the sealed version`,
    ).toBe(true)
  }
}

describe('crash safety', () => {
  it('a write failing midway leaves old-or-new files, reports the failure, and a rerun completes', async () => {
    const site = await bigSite(3)
    const before = await snapshot(site)
    const after = await sealedVersionOf(site)
    for (const at of [1, 7, 30]) {
      const dir = `${site}-fail-${at}`
      await cp(site, dir, { recursive: true })
      dirs.push(dir)
      renames = 0
      failRenameAt = at
      await expect(sealDirectory(dir, { headers: ['netlify'] })).rejects.toThrow(/ENOSPC/)
      failRenameAt = Infinity
      const now = await snapshot(dir)
      expectEachFileOldOrNew(now, before, after)
      expect([...now.keys()].some((f) => f.startsWith('.csp-seal-staging-'))).toBe(false)
      await sealDirectory(dir, { headers: ['netlify'] })
      expect(await snapshot(dir)).toEqual(after)
    }
  })

  it('a page that cannot be staged fails the run, named with the fix, and leaves every file as it was', async () => {
    const site = await bigSite(1)
    const before = await snapshot(site)
    writes = 0
    failWriteAt = 3
    const error = await sealDirectory(site, { headers: ['netlify'] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SealError)
    expect((error as SealError).problems).toEqual([
      expect.objectContaining({
        code: 'write-failed',
        file: expect.stringMatching(/\.html?$/),
        message: expect.stringContaining('ENOSPC'),
        fix: expect.stringContaining('nothing was changed'),
      }),
    ])
    expect(await snapshot(site)).toEqual(before)
  })

  it('a CLI run killed with SIGKILL at any moment leaves old-or-new files, and a rerun completes', async () => {
    const site = await bigSite(12)
    const before = await snapshot(site)
    const after = await sealedVersionOf(site)
    // How long a whole run takes here, to spread the kills over it.
    const timing = `${site}-timing`
    await cp(site, timing, { recursive: true })
    dirs.push(timing)
    const started = performance.now()
    await promisify(execFile)('node', [BIN, timing, '--headers', 'netlify', '--quiet'])
    const full = performance.now() - started
    for (const fraction of [0.3, 0.6, 0.9]) {
      const dir = `${site}-kill-${fraction}`
      await cp(site, dir, { recursive: true })
      dirs.push(dir)
      const child = spawn('node', [BIN, dir, '--headers', 'netlify', '--quiet'], { stdio: 'ignore' })
      await new Promise((ready) => setTimeout(ready, full * fraction))
      child.kill('SIGKILL')
      // A run faster than the timed one may have finished before the kill: its exit event has already fired.
      if (child.exitCode === null && child.signalCode === null) await new Promise((exited) => child.once('exit', exited))
      expectEachFileOldOrNew(await snapshot(dir), before, after)
      const rerun = await promisify(execFile)('node', [BIN, dir, '--headers', 'netlify', '--quiet'])
      expect(rerun.stderr).toBe('')
      expect(await snapshot(dir)).toEqual(after)
      expect((await readdir(dir)).filter((f) => f.startsWith('.csp-seal'))).toEqual([])
    }
  }, 300_000)
})
