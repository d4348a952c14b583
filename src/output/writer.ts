import type { ManifestPage } from './manifest.js'

/**
 * A site file written page by page, so a 100,000-page site never holds it in memory: `begin` (given the
 * file's existing content, to merge into), one `entry` per page in path order, then `end`.
 */
export interface SiteFileWriter {
  begin(existing?: string): string
  entry(file: string, page: ManifestPage): string
  end(): string
}
