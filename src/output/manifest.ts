import { createHash } from 'node:crypto'
import { recordedOptions, type CspSealConfig, type ResolvedConfig } from '../config.js'
import { serializePolicy } from '../csp/policy.js'
import type { NonceSlots, SealedPage } from '../seal/page.js'
import type { SiteFileWriter } from './headers.js'

export const MANIFEST_VERSION = 1

/** One page's record in `csp-seal.json`: everything a server needs to send the right headers and nonces. */
export interface ManifestPage {
  /** Headers to send with the page (the policy, report-only policy, reporting endpoints, extras). */
  headers: Record<string, string>
  /** Full policy, as sent in the header (the meta tag carries it minus header-only directives). */
  policy: string
  reportOnly: boolean
  reportOnlyPolicy?: string
  scriptHashes: string[]
  styleHashes: string[]
  attributeHashes: string[]
  integrity: Record<string, string>
  remote: string[]
  nonceSlots: NonceSlots
  /** `sha256-…` of the sealed file's bytes: a server checks it before inserting nonces at the slots. */
  digest: string
}

export interface Manifest {
  version: number
  base: string
  /** The options the pages were sealed with (what `--check` checks them against). */
  options?: CspSealConfig
  pages: Record<string, ManifestPage>
}

export function digestOf(bytes: Uint8Array | string): string {
  return `sha256-${createHash('sha256').update(bytes).digest('base64')}`
}

/** The headers a page should be served with. */
export function pageHeaders(page: SealedPage, config: ResolvedConfig, policy = serializePolicy(page.policy)): Record<string, string> {
  const headers: Record<string, string> = {}
  headers[config.reportOnly ? 'Content-Security-Policy-Report-Only' : 'Content-Security-Policy'] = policy
  if (page.reportOnlyPolicy && !config.reportOnly) headers['Content-Security-Policy-Report-Only'] = serializePolicy(page.reportOnlyPolicy)
  if (config.report) headers['Reporting-Endpoints'] = `${config.report.group}="${config.report.uri}"`
  return { ...headers, ...config.extraHeaders }
}

/** `digest` may be given when the caller has the page's bytes at hand (it is `digestOf(page.html)`). */
export function manifestPage(page: SealedPage, config: ResolvedConfig, digest = digestOf(page.html)): ManifestPage {
  const policy = serializePolicy(page.policy)
  return {
    headers: pageHeaders(page, config, policy),
    policy,
    reportOnly: config.reportOnly,
    ...(page.reportOnlyPolicy ? { reportOnlyPolicy: serializePolicy(page.reportOnlyPolicy) } : {}),
    scriptHashes: page.scriptHashes,
    styleHashes: page.styleHashes,
    attributeHashes: page.attributeHashes,
    integrity: page.integrity,
    remote: page.remote,
    nonceSlots: page.nonceSlots,
    digest,
  }
}

/** The manifest, written page by page in path order (the same bytes for the same site, at any size). */
export function manifestWriter(config: ResolvedConfig): SiteFileWriter {
  let first = true
  return {
    begin: () => `{\n  "version": ${MANIFEST_VERSION},\n  "base": ${JSON.stringify(config.base)},\n  "options": ${JSON.stringify(recordedOptions(config))},\n  "pages": {`,
    entry(file, page) {
      const text = `${first ? '' : ','}\n    ${JSON.stringify(file)}: ${JSON.stringify(page, null, 2).replace(/\n/g, '\n    ')}`
      first = false
      return text
    },
    end: () => `${first ? '' : '\n  '}}\n}\n`,
  }
}
