import type { InlineDirective } from '../csp/inline.js'
import { LEARNED_VERSION, type LearnedFile, type LearnedHash } from '../site/learned.js'
import { INLINE_DIRECTIVES, type Violation } from './violations.js'

/** Sightings kept per hash: enough to find it again, not a log of every page. */
const MAX_SIGHTINGS = 5

export const LEARNED_NOTE =
  'Hashes of inline code the site adds at run time, seen by csp-seal crawl. Review every entry (is it your code?), then commit this file; csp-seal adds the style hashes to the policy, and the script hashes only with learned: { scripts: true }.'

/** A learned entry is stale when the crawl saw no inline code with its hash (and was not cut short). */
export function staleEntries(learned: LearnedFile | undefined, seen: ReadonlySet<string>): LearnedHash[] {
  return (learned?.hashes ?? []).filter((entry) => !seen.has(entry.hash))
}

/**
 * The learned file after a crawl: every hash Chromium reported for blocked inline code, with where and how it was
 * seen, plus the earlier entries the crawl saw again; entries no longer seen (stale) are dropped. Sorted, so the
 * file changes only when what the site does changes.
 */
export function nextLearned(previous: LearnedFile | undefined, violations: readonly Violation[], seen: ReadonlySet<string>): LearnedFile {
  const entries = new Map<string, LearnedHash>()
  for (const entry of previous?.hashes ?? []) if (seen.has(entry.hash)) entries.set(`${entry.directive} ${entry.hash}`, entry)
  for (const v of violations) {
    if (!v.hash || v.blocked !== 'inline' || !INLINE_DIRECTIVES.includes(v.directive as InlineDirective)) continue
    const key = `${v.directive} ${v.hash}`
    const entry = entries.get(key) ?? { hash: v.hash, directive: v.directive as InlineDirective, ...(v.sample ? { sample: v.sample } : {}), seen: [] }
    entries.set(key, entry)
    const same = entry.seen.some((s) => s.page === v.page && s.path.join('\n') === v.path.join('\n'))
    if (!same && entry.seen.length < MAX_SIGHTINGS) entry.seen.push({ page: v.page, path: v.path, how: v.how, injected: false })
  }
  const hashes = [...entries.values()].sort((a, b) => a.directive.localeCompare(b.directive) || a.hash.localeCompare(b.hash))
  return { version: LEARNED_VERSION, note: LEARNED_NOTE, hashes }
}
