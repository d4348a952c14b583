import { readFileSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Problem } from '../../src/problems.js'
import { verifyBundle, type BundleResult } from '../../src/site/bundle.js'

/**
 * Checks a sealed build in `dir` against what sealing produced, and returns everything that no longer matches.
 *
 * `expected` holds, by path, the bytes that must be on disk: every sealed page, and every file an integrity value
 * was computed from, as it was hashed. When each is on disk byte for byte, every inline hash and every
 * `integrity` holds by construction, and nothing is parsed. Anything else is checked element by element
 * (verifyBundle re-reads and re-hashes the pages), so each drifted inline script, style or integrity is named
 * with its file, line and element. The manifest and header files csp-seal emitted must exist as well.
 */
export async function verifyWritten(result: BundleResult, dir: string, expected?: ReadonlyMap<string, Uint8Array>): Promise<Problem[]> {
  const problems: Problem[] = []
  // Without local integrity a page may pin a file the sealer never read: only the full check covers that.
  if (!(expected && result.config.localIntegrity && writtenAsExpected(dir, expected))) {
    const read = (path: string) =>
      readFile(join(dir, path)).then(
        (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        () => undefined,
      )
    problems.push(...(await verifyBundle(result, read)))
  }
  for (const [file] of result.files) {
    if (!statSync(join(dir, file), { throwIfNoEntry: false })?.isFile())
      problems.push({
        code: 'missing-file',
        file,
        message: 'csp-seal emitted this file, and it is not in the output folder',
        fix: 'check that no other plugin deletes it',
      })
  }
  return problems
}

/**
 * Whether every file is on disk with exactly these bytes. Read synchronously: small files are read several
 * times faster this way than through the thread pool, and the hooks that check run on their own.
 */
function writtenAsExpected(dir: string, expected: ReadonlyMap<string, Uint8Array>): boolean {
  for (const [path, bytes] of expected) {
    let written: Buffer
    try {
      written = readFileSync(join(dir, path))
    } catch {
      return false
    }
    if (!written.equals(bytes)) return false
  }
  return true
}
