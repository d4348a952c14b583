import { toResolved, type CspSealConfig, type ResolvedConfig } from './config.js'
import type { RemoteIntegrity } from './sri/remote.js'
import { cachedDigests } from './sri/integrity.js'
import { sealPage, type AssetReader, type SealedPage } from './seal/page.js'

export { defineConfig, resolveConfig, DEFAULT_POLICY, type CspSealConfig, type ResolvedConfig, type HeaderFormat } from './config.js'
export { parsePolicy, serializePolicy, mergePolicy, type Policy, type PolicyInput } from './csp/policy.js'
export { cspHash, type HashAlgorithm } from './csp/hash.js'
export { integrityOf } from './sri/integrity.js'
export { evaluatePolicy } from './csp/evaluate.js'
export { scanHtml, type Scan } from './html/scan.js'
export { sealDirectory, type SealDirectoryOptions, type SiteResult } from './site/site.js'
export { sealBundle, verifyBundle, type BundleOptions, type BundleResult } from './site/bundle.js'
export { verifyHtml } from './seal/verify.js'
export { siteFiles } from './output/files.js'
export { manifestPage, pageHeaders, digestOf, type Manifest, type ManifestPage } from './output/manifest.js'
export { pageRoutes, HEADER_FILES } from './output/headers.js'
export { SealError, formatProblem, type Problem } from './problems.js'
export { RemoteIntegrity, fetchBytes, type LockFile, type LockEntry, type RemoteOutcome } from './sri/remote.js'
export type { SealedPage, AssetReader, NonceSlots } from './seal/page.js'

export interface SealHtmlOptions {
  /** The page's path relative to the site root (posix); resolves relative URLs. Default `index.html`. */
  file?: string
  config?: CspSealConfig | ResolvedConfig
  /** Bytes of the site's files by site-relative path, for `integrity`; pages with local assets need it. */
  readAsset?: AssetReader
  /** Pins remote files (call its `save()` after sealing); without it remote files are allowed by origin. */
  remote?: RemoteIntegrity
}

/** Seals one HTML document in memory. Throws a {@link SealError} listing every problem. */
export async function sealHtml(html: string, options: SealHtmlOptions = {}): Promise<SealedPage> {
  const { file = 'index.html', readAsset = async () => undefined } = options
  const config = toResolved(options.config ?? {})
  const remote = options.remote && ((url: string) => options.remote!.resolve(url))
  return sealPage(html, { file, config, digests: cachedDigests(readAsset), remote })
}
