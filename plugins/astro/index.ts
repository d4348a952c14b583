/**
 * `csp-seal/astro`: an Astro integration that seals the built site once Astro has written it (`astro:build:done`,
 * with the output folder as `dir`). The folder is sealed in place by the CLI's engine (all-or-nothing).
 *
 *   // astro.config.mjs
 *   import cspSeal from 'csp-seal/astro'
 *   export default defineConfig({ integrations: [cspSeal({ policy: { 'img-src': ["'self'", 'data:'] } })] })
 *
 * For `output: 'static'` (Astro's default). Pages rendered on request by a server adapter are not in the folder:
 * serve those through csp-seal/server.
 */
import { fileURLToPath } from 'node:url'
import type { CspSealConfig } from '../../src/config.js'
import { sealBuiltFolder, type FolderLog } from '../frameworks/seal-folder.js'

export type { CspSealConfig } from '../../src/config.js'

/** The shape of an Astro integration this entry point fills (Astro's own type, without importing astro). */
export interface AstroIntegration {
  name: string
  hooks: {
    'astro:build:done': (params: { dir: URL; logger?: FolderLog }) => Promise<void>
  }
}

export function cspSeal(options: CspSealConfig = {}): AstroIntegration {
  return {
    name: 'csp-seal',
    hooks: {
      'astro:build:done': async ({ dir, logger }) => {
        await sealBuiltFolder('Astro', fileURLToPath(dir), options, logger ?? console, process.cwd())
      },
    },
  }
}

export default cspSeal
