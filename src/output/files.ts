import type { HeaderFormat, ResolvedConfig } from '../config.js'
import { HEADER_FILES, netlifyHeaders, nginxHeaders, vercelHeaders } from './headers.js'
import { serializeManifest, type ManifestPage } from './manifest.js'

/** Reads a file csp-seal may merge into (an existing `_headers` or `vercel.json`), or undefined. */
export type ExistingReader = (file: string) => Promise<string | undefined>

/**
 * The manifest and header files for a set of sealed pages, as [site-relative path, content]. Files that
 * users may also write by hand (`_headers`, `vercel.json`) are merged with their existing content.
 */
export async function siteFiles(pages: ReadonlyArray<[string, ManifestPage]>, config: ResolvedConfig, readExisting: ExistingReader): Promise<Array<[string, string]>> {
  const sorted = [...pages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const files: Array<[string, string]> = []
  if (config.manifest) files.push([config.manifest, serializeManifest(sorted, config)])
  const writers: Record<HeaderFormat, (existing?: string) => string> = {
    netlify: (existing) => netlifyHeaders(sorted, config.base, existing),
    vercel: (existing) => vercelHeaders(sorted, config.base, existing),
    nginx: () => nginxHeaders(sorted, config.base),
  }
  for (const format of config.headers) files.push([HEADER_FILES[format], writers[format](await readExisting(HEADER_FILES[format]))])
  return files
}
