import type { ResolvedConfig } from '../config.js'
import { policyAllows, policyUrl, sourceFor, type PolicyUrl } from '../csp/match.js'
import { serializePolicy, withSources, type Policy } from '../csp/policy.js'
import type { ResourceRef, Scan, Tag } from '../html/scan.js'
import type { Problem } from '../problems.js'
import type { Where } from './page-policy.js'

/** What each directive's fetches are, for messages. */
const WHAT: Record<ResourceRef['directive'], string> = {
  'img-src': 'images',
  'media-src': 'audio, video and text tracks',
  'frame-src': 'frames',
  'object-src': 'plugin content (<object>, <embed>)',
  'font-src': 'fonts',
  'manifest-src': 'web app manifests',
  'connect-src': 'fetches',
  'form-action': 'form submissions',
  'base-uri': '<base> URLs',
}

/**
 * The pre-flight: every URL the page names (images, media, frames, plugins, fonts, manifests, form targets, `<base>`)
 * checked against the page's final policy, as a browser would check it. Each one the policy blocks is a
 * `blocked-resource` warning naming the directive and the fix: the source to add, and the `--policy` / config value
 * that adds it. The message is the same on every page for the same directive and source, so a run groups them.
 */
export function preflight(scan: Scan, policy: Policy, config: ResolvedConfig, file: string, at: (tag: Tag) => Where): Problem[] {
  const warnings: Problem[] = []
  // A <base href> changes what relative URLs resolve to; it is itself checked against base-uri.
  const base = scan.baseHref
  for (const ref of scan.resources) {
    const url = policyUrl(ref.url, ref.directive === 'base-uri' ? undefined : base)
    if (!url) continue
    const outcome = policyAllows(policy, ref.directive, url)
    if (outcome.allowed) continue
    const source = url.kind === 'same-origin' ? "'self'" : sourceFor(url)
    const governing = outcome.governing!
    const fallback = governing === ref.directive ? '' : ` (it has no ${ref.directive}, so ${governing} governs)`
    warnings.push({
      code: 'blocked-resource',
      message: `the policy blocks ${WHAT[ref.directive]} from ${describe(url, source)}: ${ref.directive}${fallback} does not allow ${source}`,
      ...at(ref.tag),
      element: `<${ref.tag.name} ${ref.attribute}="${shorten(ref.url)}">`,
      fix: fixFor(config, ref.directive, outcome.sources!, source),
    })
  }
  return warnings
}

function describe(url: PolicyUrl, source: string): string {
  return url.kind === 'same-origin' ? "the site's own origin" : source
}

function shorten(url: string): string {
  return url.length > 100 ? `${url.slice(0, 99)}…` : url
}

/**
 * The fix, ready to apply as printed: the directive with the source added to what governs it now, given as the
 * `--policy` value (your policy's other directives kept) and as the config's `policy`.
 */
export function fixFor(config: ResolvedConfig, directive: string, governing: readonly string[], source: string): string {
  const yours: Policy = new Map([...config.policy].filter(([name]) => config.policySource.yours.includes(name) || config.policyBase === 'none'))
  // The page's own hashes and origins never go into the printed value: csp-seal adds them on every run.
  const base = yours.get(directive) ?? config.policy.get(directive) ?? governing.filter((s) => !s.startsWith("'sha") && !s.startsWith("'nonce-"))
  yours.set(directive, withSources(base, [source]))
  const text = serializePolicy(yours)
  return `allow ${source} in ${directive}: --policy "${text}" (or "policy": "${text}" in csp-seal.config.json)`
}
