import { readFileSync } from 'node:fs'
import { rename } from 'node:fs/promises'
import { digestOf } from '../output/manifest.js'
import type { Problem } from '../problems.js'

const RENAMES_IN_FLIGHT = 16

/**
 * Moves staged files into place, several renames in flight (each is atomic, so the order does not matter).
 * After a failure no new rename starts; the ones in flight finish before the error is thrown.
 */
export async function renameAll(count: number, move: (i: number) => [string, string], moved: (i: number) => void = () => {}): Promise<void> {
  let next = 0
  let failure: { error: unknown } | undefined
  const lane = async () => {
    while (next < count && !failure) {
      const i = next++
      const [from, to] = move(i)
      try {
        await rename(from, to)
        moved(i)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(RENAMES_IN_FLIGHT, count) }, lane))
  if (failure) throw failure.error
}

/**
 * Reads back a page as written and compares digests: catches anything that changed the files under us.
 * A synchronous read: the page was just written, so it comes from the page cache.
 */
export function driftOf(path: string, file: string, digest: string): Problem | undefined {
  if (digestOf(readFileSync(path)) === digest) return undefined
  return {
    code: 'drift',
    file,
    message: 'the file changed after csp-seal wrote it; its hashes no longer match',
    fix: 'make sure nothing else writes to the folder while csp-seal runs, then run it again',
  }
}
