import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder where each framework fixture is sealed once for the whole run (test/support/sealed-frameworks.ts). */
    sealedFrameworks: string
  }
}

/**
 * Vitest global setup: a folder of the run's own for the sealed framework fixtures, which the three test files that
 * drive them share across workers; removed when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'csp-seal-sealed-frameworks-'))
  project.provide('sealedFrameworks', dir)
  return () => rm(dir, { recursive: true, force: true })
}
