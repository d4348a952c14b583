/**
 * `csp-seal/docusaurus`: a Docusaurus plugin that seals the built site in its `postBuild` lifecycle, once
 * Docusaurus has rendered every page into `outDir`. (A webpack plugin inside Docusaurus's client build cannot:
 * the pages are rendered after it.) The folder is sealed in place by the CLI's engine (all-or-nothing).
 *
 *   // docusaurus.config.ts
 *   plugins: [['csp-seal/docusaurus', { policy: { 'img-src': ["'self'", 'data:', 'https:'] } }]],
 */
import type { CspSealConfig } from '../../src/config.js'
import { sealBuiltFolder } from '../frameworks/seal-folder.js'

export type { CspSealConfig } from '../../src/config.js'

/** The parts of Docusaurus's LoadContext and plugin shape this plugin uses (without importing Docusaurus). */
export interface DocusaurusContext {
  siteDir: string
}
export interface DocusaurusPlugin {
  name: string
  postBuild(props: { outDir: string }): Promise<void>
}

export default function cspSealDocusaurus(context: DocusaurusContext, options: CspSealConfig = {}): DocusaurusPlugin {
  // Docusaurus passes `id` among a plugin's options; it is not a csp-seal option.
  const { id: _id, ...config } = options as CspSealConfig & { id?: string }
  return {
    name: 'csp-seal',
    async postBuild({ outDir }) {
      await sealBuiltFolder('Docusaurus', outDir, config, { info: (m) => console.log(m), warn: (m) => console.warn(m) }, context.siteDir)
    },
  }
}

export { cspSealDocusaurus }
