import { readFile } from 'node:fs/promises'
import { MANIFEST_VERSION, type Manifest } from '../output/manifest.js'

/** Parses `csp-seal.json`, refusing anything that is not a manifest this version of csp-seal wrote. */
export function parseManifest(json: string, path: string): Manifest {
  let manifest: Manifest
  try {
    manifest = JSON.parse(json) as Manifest
  } catch (error) {
    throw new Error(`${path} is not valid JSON (${(error as Error).message})`)
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
