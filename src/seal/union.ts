import type { ExtraHashes } from '../csp/inline.js'
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
    return { scripts: [...this.scripts].sort(), styles: [...this.styles].sort(), scriptAttributes: [...this.scriptAttributes].sort(), styleAttributes: [...this.styleAttributes].sort() }
  }
}
