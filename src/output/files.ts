import type { ResolvedConfig } from '../config.js'
import { HEADER_FILES, HEADER_WRITERS, writeAll } from './headers.js'
import { manifestWriter, type ManifestPage, type SiteFileWriter } from './manifest.js'

/** Reads a file csp-seal may merge into (an existing `_headers` or `vercel.json`), or undefined. */
export type ExistingReader = (file: string) => Promise<string | undefined>

/** The files written next to the pages (manifest, header files), each with its writer. */
export function siteFileWriters(config: ResolvedConfig, files: readonly string[], scope: 'page' | 'site' = 'page'): Array<[string, SiteFileWriter]> {
  const writers: Array<[string, SiteFileWriter]> = []
  if (config.manifest) writers.push([config.manifest, manifestWriter(config)])
  for (const format of config.headers) writers.push([HEADER_FILES[format], HEADER_WRITERS[format](config.base, files, { manifest: config.manifest, scope })])
  return writers
}

/**
 * The manifest and header files for a set of sealed pages, as [site-relative path, content]. Files that
 * users may also write by hand (`_headers`, `vercel.json`) are merged with their existing content.
 */
export async function siteFiles(
  pages: ReadonlyArray<[string, ManifestPage]>,
  config: ResolvedConfig,
  readExisting: ExistingReader,
): Promise<Array<[string, string]>> {
  const sorted = [...pages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const writers = siteFileWriters(
    config,
    sorted.map(([file]) => file),
  )
  return Promise.all(writers.map(async ([file, writer]): Promise<[string, string]> => [file, writeAll(writer, sorted, await readExisting(file))]))
}
