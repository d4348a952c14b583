import { createHash } from 'node:crypto'
import { recordedOptions, type CspSealConfig, type ResolvedConfig } from '../config.js'
import { serializePolicy } from '../csp/policy.js'
import type { Problem } from '../problems.js'
import type { PageHashes, PageRecord } from '../seal/page.js'

export const MANIFEST_VERSION = 1

/** One page's record in `csp-seal.json`: everything a server needs to send the right headers and nonces. */
export interface ManifestPage extends PageHashes {
  /** Headers to send with the page (the policy, reporting endpoints, extras). */
  headers: Record<string, string>
  /** csp-seal's policy for the page, as sent in the header (the meta tag carries it minus header-only directives). */
  policy: string
  reportOnly: boolean
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

/**
 * A site file written page by page, so a 100,000-page site never holds it in memory: `begin` (given the
 * file's existing content, to merge into), one `entry` per page in path order, then `end`.
 */
export interface SiteFileWriter {
  begin(existing?: string): string
  entry(file: string, page: ManifestPage): string
  end(): string
  /** What the file's writer warns of before it is written (e.g. more rules than a host reads). */
  warnings?: Problem[]
}

export function digestOf(bytes: Uint8Array | string): string {
  return `sha256-${createHash('sha256').update(bytes).digest('base64')}`
}

/** The headers a page should be served with. */
export function pageHeaders(page: Pick<PageRecord, 'policy'>, config: ResolvedConfig, policy = serializePolicy(page.policy)): Record<string, string> {
  const headers: Record<string, string> = {}
  headers[config.reportOnly ? 'Content-Security-Policy-Report-Only' : 'Content-Security-Policy'] = policy
  if (config.report) headers['Reporting-Endpoints'] = `${config.report.group}="${config.report.uri}"`
  return { ...headers, ...config.extraHeaders }
}

/** `digest` may be given when the caller has it at hand (it is `digestOf(page.bytes)`). */
export function manifestPage(page: PageRecord, config: ResolvedConfig, digest = digestOf(page.bytes)): ManifestPage {
  const policy = serializePolicy(page.policy)
  return {
    headers: pageHeaders(page, config, policy),
    policy,
    reportOnly: config.reportOnly,
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
    begin: () =>
      `{\n  "version": ${MANIFEST_VERSION},\n  "base": ${JSON.stringify(config.base)},\n  "options": ${JSON.stringify(recordedOptions(config))},\n  "pages": {`,
    entry(file, page) {
      const text = `${first ? '' : ','}\n    ${JSON.stringify(file)}: ${JSON.stringify(page, null, 2).replace(/\n/g, '\n    ')}`
      first = false
      return text
    },
    end: () => `${first ? '' : '\n  '}}\n}\n`,
  }
}
