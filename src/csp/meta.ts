import { metaPolicyOf, serializePolicy, type Policy } from './policy.js'

/**
 * The attribute that marks the policy meta csp-seal wrote. A CSP meta without it is the page's own policy: kept
 * as it is (browsers enforce it next to csp-seal's), never merged into csp-seal's. With it, a second run knows
 * which meta to replace, so sealing twice changes nothing.
 */
export const SEAL_MARKER = 'data-csp-seal'

/**
 * The `<meta http-equiv="Content-Security-Policy">` tag for a policy, without the directives a meta cannot carry;
 * `sealed` adds {@link SEAL_MARKER}. Attribute-escaped (policies never hold `"`, but be exact).
 */
export function policyMetaTag(policy: Policy, { sealed = false } = {}): string {
  const content = serializePolicy(metaPolicyOf(policy)).replace(/&/g, '&amp;').replace(/"/g, '&quot;')
  return `<meta http-equiv="Content-Security-Policy" content="${content}"${sealed ? ` ${SEAL_MARKER}` : ''}>`
}

/** Whether a scanned CSP meta tag (its attributes) is the one csp-seal wrote. */
export function isSealMeta(attrs: ReadonlyMap<string, unknown>): boolean {
  return attrs.has(SEAL_MARKER)
}

/** The meta tag run-time code reads its nonce from: `document.querySelector('meta[property=csp-nonce]').nonce`. */
export function nonceMetaTag(nonce: string): string {
  return `<meta property="csp-nonce" nonce="${nonce}">`
}

/** The tag that makes a page's encoding certain (CSP hashes are computed over UTF-8 text). */
export const CHARSET_META = '<meta charset="utf-8">'
