import { readFile, stat } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { MANIFEST_VERSION, type Manifest } from '../output/manifest.js'

/** Parses `csp-seal.json`, refusing anything that is not a manifest this version of csp-seal wrote. */
export function parseManifest(json: string, path: string): Manifest {
  let manifest: Manifest
  try {
    manifest = JSON.parse(json) as Manifest
  } catch (error) {
    throw new Error(`${path} is not valid JSON (${(error as Error).message})`, { cause: error })
  }
  if (!manifest || manifest.version !== MANIFEST_VERSION || typeof manifest.pages !== 'object' || manifest.pages === null) {
    throw new Error(`${path} is not a csp-seal manifest of version ${MANIFEST_VERSION}: seal the site again with this version of csp-seal`)
  }
  return manifest
}

export async function readManifest(path: string): Promise<Manifest> {
  let json: string
  try {
    json = await readFile(path, 'utf8')
  } catch {
    throw new Error(`${path} does not exist: seal the site first (npx csp-seal <dir>)`)
  }
  return parseManifest(json, path)
}

/** Where the manifest of a site is: `manifest` relative to the site folder, or absolute. */
export function manifestPath(root: string, manifest = 'csp-seal.json'): string {
  return isAbsolute(manifest) ? manifest : join(root, manifest)
}

/**
 * The manifest of a running site, read on first use and again only when the file changes (a new build), so a
 * server starts at once and follows rebuilds without a restart. `derive` builds what the server keeps per
 * manifest (an index, shared headers) once per version of the file.
 */
export class ManifestSource<T> {
  private cached: { key: string; value: Promise<T> } | undefined

  constructor(
    readonly path: string,
    private readonly derive: (manifest: Manifest) => T,
    private readonly hint = 'seal the site first (npx csp-seal <dir>)',
  ) {}

  async get(): Promise<T> {
    let key: string
    try {
      const info = await stat(this.path)
      key = `${info.ino}:${info.size}:${info.mtimeMs}`
    } catch {
      throw new Error(`${this.path} does not exist: ${this.hint}`)
    }
    if (this.cached?.key !== key) {
      const value = readFile(this.path, 'utf8').then((json) => this.derive(parseManifest(json, this.path)))
      // A failed read is not kept: the next request tries again.
      value.catch(() => {
        if (this.cached?.value === value) this.cached = undefined
      })
      this.cached = { key, value }
    }
    return this.cached.value
  }
}
