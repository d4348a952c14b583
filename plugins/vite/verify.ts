import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Problem } from '../../src/problems.js'
import { verifyBundle, type BundleResult } from '../../src/seal/bundle.js'

/** Files read at once while comparing: enough to keep the disk busy, few enough to keep memory flat. */
const PARALLEL_READS = 16

/**
 * Checks a sealed build in `dir` against what sealing produced, and returns everything that no longer matches.
 *
 * `sealedAssets` are the bytes each integrity value was computed from (path → bytes), as given to the sealer.
 * When every page on disk is byte for byte the HTML csp-seal produced and every such file is byte for byte what
 * was hashed, every inline hash and every `integrity` holds by construction, and nothing is parsed. Anything
 * else is checked element by element (verifyBundle re-reads and re-hashes the pages), so each drifted inline
 * script, style or integrity is named with its file, line and element. The manifest and header files csp-seal
 * emitted must exist as well.
 */
export async function verifyWritten(result: BundleResult, dir: string, sealedAssets?: ReadonlyMap<string, Uint8Array>): Promise<Problem[]> {
  const read = (path: string) => readFile(join(dir, path)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength), () => undefined)
  const problems: Problem[] = []
  // Without local integrity a page may pin a file the sealer never read: only the full check covers that.
  const identical = sealedAssets !== undefined && result.config.localIntegrity && (await sameAsSealed(result, dir, sealedAssets))
  if (!identical) problems.push(...(await verifyBundle(result, read)))
  const missing = await inParallel(result.files.map(([file]) => file), async (file) => !(await stat(join(dir, file)).then((s) => s.isFile(), () => false)))
  for (const [index, [file]] of result.files.entries()) {
    if (missing[index]) problems.push({ code: 'missing-file', file, message: 'csp-seal emitted this file, and it is not in the output folder', fix: 'check that no other plugin deletes it' })
  }
  return problems
}

/** Whether every sealed page and every file hashed for it are on disk exactly as sealed. */
async function sameAsSealed(result: BundleResult, dir: string, sealedAssets: ReadonlyMap<string, Uint8Array>): Promise<boolean> {
  const expected: Array<[string, () => Uint8Array]> = [
    ...result.pages.map((page): [string, () => Uint8Array] => [page.file, () => Buffer.from(page.html, 'utf8')]),
    ...[...sealedAssets].map(([path, bytes]): [string, () => Uint8Array] => [path, () => bytes]),
  ]
  let same = true
  await inParallel(expected, async ([path, bytes]) => {
    if (!same) return
    const written = await readFile(join(dir, path)).catch(() => undefined)
    if (!written || !written.equals(bytes())) same = false
  })
  return same
}

/** `work` over every item, a few at a time; results in the items' order. */
async function inParallel<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, items.length) }, lane))
  return results
}
