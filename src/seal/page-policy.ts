import type { ResolvedConfig } from '../config.js'
import { allowsInline, type InlineDirective } from '../csp/inline.js'
import { isSealMeta } from '../csp/meta.js'
import { HEADER_ONLY_DIRECTIVES, parsePolicy, type Policy } from '../csp/policy.js'
import type { CspMeta, Scan, Tag } from '../html/scan.js'
import { SealError, type Problem } from '../problems.js'
import type { Edit } from './splice.js'

/** Where a problem is: file, line, column and element of a tag. */
export type Where = Pick<Problem, 'file' | 'line' | 'column' | 'element'>

/** A CSP meta of the page's own: browsers enforce it from where it stands, next to csp-seal's policy. */
export interface PagePolicy {
  policy: Policy
  /** Offset where it takes effect (the end of its tag): code before it is not subject to it. */
  from: number
  line: number
  text: string
}

export interface PagePolicies {
  /** The page's own enforced policies, kept in the page as they are. */
  own: PagePolicy[]
  /** Removal of csp-seal's meta from an earlier run (it is written anew). */
  edits: Edit[]
  errors: Problem[]
  warnings: Problem[]
}

/**
 * The CSP metas in a page. csp-seal's own (marked) meta is replaced. Any other is the page's own policy: kept byte
 * for byte, as a policy of its own, since browsers enforce every policy a page carries (the intersection) and
 * merging it into csp-seal's could only widen it. Nothing of it reaches a header: neither the directives browsers
 * ignore in a meta (frame-ancestors, report-uri, report-to, sandbox) nor a report-only meta (browsers ignore it;
 * promoted, it would send reports to an address the config never named). `reportOnly` never applies to it.
 */
export function pagePolicies(scan: Scan, config: ResolvedConfig, at: (tag: Tag) => Where): PagePolicies {
  const result: PagePolicies = { own: [], edits: [], errors: [], warnings: [] }
  for (const meta of scan.metas) {
    if (isSealMeta(meta.tag.attrs)) {
      result.edits.push({ start: meta.start, end: meta.end, text: '' })
      continue
    }
    if (meta.reportOnly) {
      result.warnings.push({
        code: 'report-only-meta',
        message:
          "browsers ignore a report-only policy in a meta tag; csp-seal left it in the page as it is and did not move it to a header (its reports would go to an address csp-seal's config does not name)",
        ...at(meta.tag),
        fix: 'to collect reports, set report: { uri } (and reportOnly if you want) in the config, and serve the headers csp-seal writes; then remove this meta',
      })
      continue
    }
    const policy = parseOwn(meta, at, result.errors)
    if (!policy) continue
    result.own.push({ policy, from: meta.end, line: meta.tag.line, text: meta.content })
    result.warnings.push({
      code: 'page-policy-kept',
      message:
        "the page has a Content-Security-Policy meta of its own; browsers enforce it next to csp-seal's policy (code runs only if both allow it), so it was kept as it is, and csp-seal adds no hash for code it blocks",
      ...at(meta.tag),
      fix: "to have one policy, move its directives into csp-seal's policy (the config) and remove the meta from the page",
    })
    const ignored = [...policy.keys()].filter((name) => HEADER_ONLY_DIRECTIVES.includes(name))
    if (ignored.length) {
      result.warnings.push({
        code: 'meta-ignored-directive',
        message: `the page's own policy meta sets ${ignored.join(', ')}, which browsers ignore in a meta tag; csp-seal did not move ${ignored.length === 1 ? 'it' : 'them'} to the headers`,
        ...at(meta.tag),
        fix: `if the site needs ${ignored.length === 1 ? 'it' : 'them'}, put ${ignored.length === 1 ? 'it' : 'them'} in csp-seal's policy (the config): csp-seal sends that in the headers`,
      })
    }
    if (config.reportOnly) {
      result.warnings.push({
        code: 'page-policy-enforced',
        message: "reportOnly applies to csp-seal's policy only: the page's own policy meta stays enforced",
        ...at(meta.tag),
        fix: 'remove the meta from the page if it should only report',
      })
    }
  }
  return result
}

function parseOwn(meta: CspMeta, at: (tag: Tag) => Where, errors: Problem[]): Policy | undefined {
  try {
    return parsePolicy(meta.content, 'policy meta tag')
  } catch (error) {
    if (!(error instanceof SealError)) throw error
    errors.push(...error.problems.map((p) => ({ ...p, ...at(meta.tag) })))
    return undefined
  }
}

/** The first of the page's own policies that blocks this inline code (each governs what comes after it), if any. */
export function blockingPolicy(own: readonly PagePolicy[], directive: InlineDirective, text: string, tag: Tag): PagePolicy | undefined {
  for (const page of own) if (tag.start >= page.from && !allowsInline(page.policy, directive, text)) return page
  return undefined
}
