import type { ExtraHashes } from '../csp/inline.js'
import type { Problem } from '../problems.js'
import type { FileOutcome } from './job.js'
import type { OutcomeSink } from './pool.js'

/**
 * The union of every page's inline hashes, by directive: what each page's policy carries at site scope. Only
 * the hash strings are kept (a few per distinct inline element of the site), so memory stays flat however
 * many pages share them. A page that cannot be planned adds nothing: the sealing pass reports it.
 */
export class HashUnion implements OutcomeSink {
  private readonly scripts = new Set<string>()
  private readonly styles = new Set<string>()
  private readonly scriptAttributes = new Set<string>()
  private readonly styleAttributes = new Set<string>()

  async room(): Promise<void> {}

  async add(_index: number, outcome: FileOutcome): Promise<void> {
    if (!outcome.ok || !outcome.hashes) return
    this.addHashes(outcome.hashes)
  }

  addHashes(hashes: ExtraHashes): void {
    for (const hash of hashes.scripts ?? []) this.scripts.add(hash)
    for (const hash of hashes.styles ?? []) this.styles.add(hash)
    for (const hash of hashes.scriptAttributes ?? []) this.scriptAttributes.add(hash)
    for (const hash of hashes.styleAttributes ?? []) this.styleAttributes.add(hash)
  }

  /** The union, each list sorted (the same policy text whatever order the pages were planned in). */
  hashes(): Required<ExtraHashes> {
    return {
      scripts: [...this.scripts].sort(),
      styles: [...this.styles].sort(),
      scriptAttributes: [...this.scriptAttributes].sort(),
      styleAttributes: [...this.styleAttributes].sort(),
    }
  }
}

/**
 * Past this many bytes of hashes, a policy that carries the union no longer fits in a header many hosts and
 * proxies accept (8 KiB is a common limit for one response header), and every page pays for it.
 */
export const LARGE_UNION_BYTES = 8 * 1024

/** A warning when the site-scope union makes every page's policy large, with the ways out. */
export function largeUnionWarnings(union: Required<ExtraHashes>, pages: number): Problem[] {
  const hashes = [...union.scripts, ...union.styles, ...union.scriptAttributes, ...union.styleAttributes]
  const bytes = hashes.reduce((sum, hash) => sum + hash.length + 1, 0)
  if (bytes <= LARGE_UNION_BYTES) return []
  return [
    {
      code: 'site-policy-large',
      message: `at site scope every page's policy carries the inline hashes of all ${pages} pages: ${hashes.length} hashes, ${Math.ceil(bytes / 1024)} KiB; a policy header that large is refused or cut by many hosts and proxies (8 KiB is a common limit), and every page is sent it`,
      fix: "move inline scripts and styles that differ from page to page into files, or seal with --scope page if the site's client-side navigation never brings one page's inline code into another page's document",
    },
  ]
}
