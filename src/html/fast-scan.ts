import { NotModelled } from './fast/not-modelled.js'
import { PageRecord } from './fast/page-record.js'
import { TreeBuilder } from './fast/tree-builder.js'
import type { Scan } from './rules.js'
import { scanHtml } from './scan.js'

export { plainTag } from './fast/page-record.js'

/*
 * The scan of `scanHtml`, without building a tree: parse5's tokenizer (as a RunTokenizer, which takes runs of text
 * whole and lets whitespace join text where the model treats both alike) drives a model of parse5's tree builder
 * (fast/tree-builder.ts, with the stack of open elements and the list of active formatting elements of its own
 * modules), which reports each element to the page record (fast/page-record.ts) as it inserts it. The rules of what
 * an element means are those of rules.ts, shared with `scanHtml`.
 *
 * A page whose constructs the model does not follow is scanned by `scanHtml`, and `Scan.fallbacks` says why.
 */

/**
 * `scanHtml`'s result, computed from parse5's tokenizer and a model of its tree builder instead of a tree: faster
 * than parse5's bare tokenizer, since text is read in runs. A document with constructs the model does not follow is
 * scanned by `scanHtml`, and `fallbacks` in the result says why. `scripting` as for `scanHtml`.
 */
export function fastScanHtml(html: string, scripting = true): Scan {
  const record = new PageRecord(html, fastScanHtml)
  try {
    new TreeBuilder(record, false, 'document', 0, scripting).run(html)
  } catch (error) {
    // A construct the model does not follow, or a bug in it: the tree scan is right either way, and the reason is
    // reported (tests fail on "error: …").
    const reason = error instanceof NotModelled ? error.message : `error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
    const scan = scanHtml(html, scripting)
    scan.fallbacks.push(reason)
    return scan
  }
  return record.result()
}
