import { existsSync } from 'node:fs'
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterEach } from 'vitest'

export const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname

/**
 * Copies a fixture folder to a fresh temp dir; the caller seals the copy, never the fixture. Tests take their input
 * this way only, and refuse a fixture that was sealed in place (it holds a manifest): its pages would no longer be
 * the unsealed input every test expects.
 */
export async function copyFixture(name: string): Promise<string> {
  if (existsSync(join(FIXTURES, name, 'csp-seal.json'))) {
    throw new Error(
      `fixtures/${name} was sealed in place (it holds csp-seal.json); restore it with: git checkout -- fixtures/${name} && git clean -fd fixtures/${name}`,
    )
  }
  const dir = await mkdtemp(join(tmpdir(), `csp-seal-${name}-`))
  await cp(join(FIXTURES, name), dir, { recursive: true })
  return dir
}

/** Every file under `dir` with its bytes, keyed by relative path: to prove what a run did or did not touch. */
export async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>()
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const full = join(entry.parentPath, entry.name)
    files.set(relative(dir, full), await readFile(full))
  }
  return files
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Temp folders for one test file, removed after each test: `fixture(name)` copies a fixture, `track(dir)` adopts one. */
export function useTempDirs() {
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map(removeDir))
  })
  const track = <T extends string>(dir: T): T => {
    dirs.push(dir)
    return dir
  }
  return { track, fixture: async (name: string) => track(await copyFixture(name)) }
}
