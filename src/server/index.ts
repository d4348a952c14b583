/**
 * `csp-seal/server`: a production static server for a sealed site that adds a fresh nonce to every page response.
 *
 * - {@link createHandler}: `(request: Request) => Promise<Response>` for fetch-style servers and Electron.
 * - {@link createMiddleware}: `(req, res, next?) => void` for `http.createServer`, Express and Connect.
 * - {@link applyNonce}: the pure transform (sealed bytes, manifest page, nonce) → (body, headers), for any
 *   other server.
 * - {@link writeNginxNonceTemplates}: nginx nonce mode (server-only templates + `sub_filter` + `$request_id`).
 */
export { createHandler, type FetchHandler } from './fetch.js'
export { createMiddleware, type NodeMiddleware } from './node.js'
export type { ServerOptions, SiteSummary } from './site.js'
export { DOCUMENT_POLICY } from '../output/host-rules.js'
export { applyNonce, generateNonce, isValidNonce, nonceMeta, policyWithNonce, type NoncedPage } from './transform.js'
export { contentTypeOf } from './content-types.js'
export { parseManifest, readManifest } from './manifest.js'
export { writeNginxNonceTemplates, NGINX_NONCE_INCLUDE, type NginxNonceOptions, type NginxNonceResult } from './nginx.js'
export type { Manifest, ManifestPage } from '../output/manifest.js'
export type { NonceSlots } from '../seal/page.js'
