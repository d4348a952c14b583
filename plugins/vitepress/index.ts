/**
 * `csp-seal/vitepress`: seals a VitePress site once VitePress has written it. VitePress renders its pages after its
 * Vite builds, where a Vite plugin cannot see them; its `buildEnd` hook runs after every page is written, with the
 * output folder in `siteConfig.outDir`. The folder is sealed in place by the CLI's engine (all-or-nothing).
 *
 *   // docs/.vitepress/config.mts
 *   import { cspSealBuildEnd } from 'csp-seal/vitepress'
 *   export default defineConfig({ buildEnd: cspSealBuildEnd({ policy: { 'img-src': ["'self'", 'data:'] } }) })
 *
 * A VitePress build fails (the error lists every problem) when the site cannot be sealed.
 */
import type { CspSealConfig } from '../../src/config.js'
import { sealBuiltFolder, type FolderLog } from '../frameworks/seal-folder.js'

export type { CspSealConfig } from '../../src/config.js'

/** The part of VitePress's SiteConfig this hook reads. */
export interface VitePressSiteConfig {
  outDir: string
  root?: string
  logger?: FolderLog
}

/** A VitePress `buildEnd` hook that seals `siteConfig.outDir`. Chain your own buildEnd with `await` if you have one. */
export function cspSealBuildEnd(options: CspSealConfig = {}): (siteConfig: VitePressSiteConfig) => Promise<void> {
  return async (siteConfig) => {
    const log = siteConfig.logger ?? console
    // The lock file of remote integrity lives in the VitePress project folder, next to .vitepress/.
    await sealBuiltFolder('VitePress', siteConfig.outDir, options, log, siteConfig.root)
  }
}

export default cspSealBuildEnd
