import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Problem } from '../../src/problems.js'
import { verifyBundle, type BundleResult } from '../../src/seal/bundle.js'

/**
 * Re-reads a sealed build from `dir` and returns everything that no longer matches: each drifted inline
 * script, style or integrity of a page (verifyBundle), and the manifest or header files gone missing.
 */
export async function verifyWritten(result: BundleResult, dir: string): Promise<Problem[]> {
  const read = (path: string) => readFile(join(dir, path)).then((b) => new Uint8Array(b), () => undefined)
  const problems = await verifyBundle(result, read)
  for (const [file] of result.files) {
    if ((await read(file)) === undefined) problems.push({ code: 'missing-file', file, message: 'csp-seal emitted this file, and it is not in the output folder', fix: 'check that no other plugin deletes it' })
  }
  return problems
}
