/**
 * The README's quick start, run as a newcomer runs it: its commands, taken from README.md and run verbatim, on a
 * fresh copy of the repository. They must succeed and leave every tracked file as it was, so that `npm test`
 * afterwards reads the inputs it expects.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = new URL('..', import.meta.url).pathname
const exec = promisify(execFile)

/** The commands of the first `sh` block under "## Quick start" in README.md, one per line, as written. */
function quickStartCommands(readme: string): string[] {
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1]
  const block = section && /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  if (!block) throw new Error('README.md has no "## Quick start" section with a ```sh block')
  return block.split('\n').filter((line) => line.trim() !== '')
}

/** A copy of the working tree as a fresh repository would hold it: tracked and new files, committed; no build. */
async function freshCopy(): Promise<string> {
  const copy = await mkdtemp(join(tmpdir(), 'csp-seal-fresh-'))
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 64 << 20 })
  for (const file of stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue // deleted in the working tree
    await mkdir(dirname(join(copy, file)), { recursive: true })
    await copyFile(join(ROOT, file), join(copy, file))
  }
  const git = (...args: string[]) =>
    exec('git', ['-c', 'user.name=csp-seal', '-c', 'user.email=csp-seal@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: copy })
  await git('init', '-q')
  await git('add', '-A')
  await git('commit', '-q', '-m', 'fresh copy')
  // The packages are the ones this checkout installed, hard-linked (copied across file systems): `npm install`
  // then finds them up to date instead of downloading them again. npm's own record of the tree is a real copy.
  await exec('cp', ['-al', join(ROOT, 'node_modules'), join(copy, 'node_modules')]).catch(() =>
    exec('cp', ['-a', join(ROOT, 'node_modules'), join(copy, 'node_modules')]),
  )
  await rm(join(copy, 'node_modules/.cache'), { recursive: true, force: true })
  const hidden = join(copy, 'node_modules/.package-lock.json')
  if (existsSync(hidden)) {
    await rm(hidden)
    await copyFile(join(ROOT, 'node_modules/.package-lock.json'), hidden)
  }
  return copy
}

let copy: string | undefined
afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true })
})

describe('the README quick start', () => {
  it('takes its commands from README.md', async () => {
    const commands = quickStartCommands(await readFile(join(ROOT, 'README.md'), 'utf8'))
    expect(commands.length).toBeGreaterThanOrEqual(2)
    expect(commands.some((command) => command.includes('npx csp-seal'))).toBe(true)
  })

  it('runs verbatim on a fresh copy, works, and leaves every tracked file and the test inputs as they were', async () => {
    const commands = quickStartCommands(await readFile(join(ROOT, 'README.md'), 'utf8'))
    copy = await freshCopy()
    // The set-up only checks the Debian packages here (the tests never install anything; .ci/run did).
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CSP_SEAL_SETUP_NO_APT: '1',
      NO_COLOR: '1',
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    }
    const outputs: string[] = []
    for (const command of commands) {
      const run = await exec('sh', ['-c', command], { cwd: copy, env, maxBuffer: 64 << 20 }).catch(
        (error: { code: number; stdout: string; stderr: string }) => {
          throw new Error(`"${command}" failed (exit ${error.code}):\n${error.stdout}\n${error.stderr}`)
        },
      )
      outputs.push(run.stdout)
    }
    // Nothing tracked changed and nothing new appeared beside it: the suite's inputs are as committed.
    const { stdout: status } = await exec('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: copy })
    expect(status).toBe('')
    // It did what the README says: a sealed copy, with a summary, and nothing else.
    expect(outputs.join('\n')).toMatch(/csp-seal sealed \d+ pages/)
    // -z: paths as they are, never quoted (npm packages ship names with spaces).
    const { stdout: ignored } = await exec('git', ['status', '--porcelain', '-z', '--ignored', '--untracked-files=all'], { cwd: copy, maxBuffer: 64 << 20 })
    const written = ignored.split('\0').filter((line) => line.startsWith('!! ') && !/^!! (node_modules|dist)\//.test(line))
    expect(written.length).toBeGreaterThan(0)
    for (const line of written) expect(line, 'the quick start writes only into its output folder').toMatch(/^!! sealed-example\//)
    expect(await readFile(join(copy, 'sealed-example/index.html'), 'utf8')).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'self'/)
  }, 600_000)
})
