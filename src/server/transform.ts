import { allowNonce } from '../csp/allow.js'
import { nonceMetaTag } from '../csp/meta.js'
import { parsePolicy, serializePolicy } from '../csp/policy.js'
import { digestOf, type ManifestPage } from '../output/manifest.js'

/** Headers whose value is a policy: the nonce goes into these. */
const POLICY_HEADERS = new Set(['content-security-policy', 'content-security-policy-report-only'])

/** 128 bits: the floor CSP3 recommends for a nonce. */
const NONCE_BYTES = 16
const NONCE = /^[A-Za-z0-9+/_-]+={0,2}$/

/** A fresh nonce: 128 bits from the platform CSPRNG, base64. Call once per response, never reuse. */
export function generateNonce(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
  return Buffer.from(bytes).toString('base64')
}

/** A value that can stand in `nonce="…"` and `'nonce-…'` unescaped, and is long enough to carry 128 bits. */
export function isValidNonce(nonce: string): boolean {
  return typeof nonce === 'string' && nonce.length >= 22 && NONCE.test(nonce)
}

/**
 * Adds `'nonce-<nonce>'` to the directives that govern script and style elements, by the one nonce rule of the
 * build, dev and preview ({@link allowNonce}): `*-src-elem`, else `*-src` (created from `default-src`); nothing
 * where `'unsafe-inline'` is in force, nor where the user wrote `'none'` for the family.
 */
export function policyWithNonce(policyText: string, nonce: string): string {
  if (!isValidNonce(nonce)) throw new TypeError('policyWithNonce: the nonce must be base64 of at least 128 bits')
  const policy = parsePolicy(policyText, 'page policy')
  allowNonce(policy, nonce)
  return serializePolicy(policy)
}

/** The meta tag runtimes read their nonce from: `document.querySelector('meta[property=csp-nonce]').nonce`. */
export const nonceMeta = nonceMetaTag

export interface NoncedPage {
  body: Uint8Array
  /** Everything to send with the body: the page's headers (policy with the nonce), content type, no-store. */
  headers: Record<string, string>
  /** The nonce in the body and headers; undefined when the hash-only page is served instead. */
  nonce?: string
  /** Why the hash-only page was served: the file is not the one the manifest describes. */
  fallback?: 'digest-mismatch' | 'bad-slots'
}

const HTML_HEADERS = { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }

/**
 * `headers` with `overrides` set, whatever the case of the names already there: a user's `cache-control` must
 * not travel next to our `Cache-Control: no-store`. Validators are always dropped from page responses.
 */
export function withHeaders(headers: Record<string, string>, overrides: Record<string, string>): Record<string, string> {
  const replaced = new Set([...Object.keys(overrides), 'ETag', 'Last-Modified'].map((name) => name.toLowerCase()))
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) if (!replaced.has(name.toLowerCase())) result[name] = value
  return { ...result, ...overrides }
}

/**
 * Turns a sealed page into a response with a per-response nonce: ` nonce="…"` after the tag name at every
 * slot, ` ngCspNonce="…"` after an Angular app root's tag name, the policy meta swapped for the `csp-nonce` meta
 * (or that meta inserted where the policy meta would go), and the page's policy headers with `'nonce-…'`. Every
 * other byte stays as it was.
 *
 * Pure and synchronous, for any server. If the bytes are not the file the manifest describes (digest), or
 * the slots do not point where they must, it returns the hash-only page unchanged with the manifest's
 * headers: still safe, never a nonce in the wrong place.
 */
export function applyNonce(sealed: Uint8Array, page: ManifestPage, nonce: string): NoncedPage {
  if (!isValidNonce(nonce)) throw new TypeError('applyNonce: the nonce must be base64 of at least 128 bits (use generateNonce())')
  const hashOnly = (fallback: NoncedPage['fallback']): NoncedPage => ({ body: sealed, headers: withHeaders(page.headers, HTML_HEADERS), fallback })
  if (digestOf(sealed) !== page.digest) return hashOnly('digest-mismatch')
  const slots = page.nonceSlots
  if (!slotsFit(sealed, slots)) return hashOnly('bad-slots')

  const attribute = Buffer.from(` nonce="${nonce}"`)
  const rootAttribute = Buffer.from(` ngCspNonce="${nonce}"`)
  const meta = Buffer.from(nonceMeta(nonce))
  const [metaStart, metaEnd] = typeof slots.meta === 'number' ? [slots.meta, slots.meta] : slots.meta
  // Every insertion in byte order; the meta goes before a slot at its own offset.
  const insertions = [
    { at: metaStart, end: metaEnd, text: meta, order: 0 },
    ...slots.tags.map((at) => ({ at, end: at, text: attribute, order: 1 })),
    ...(slots.ngCspNonce ?? []).map((at) => ({ at, end: at, text: rootAttribute, order: 1 })),
  ].sort((a, b) => a.at - b.at || a.order - b.order)
  const parts: Uint8Array[] = []
  let from = 0
  for (const { at, end, text } of insertions) {
    parts.push(sealed.subarray(from, at), text)
    from = end
  }
  parts.push(sealed.subarray(from))

  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(page.headers)) {
    headers[name] = POLICY_HEADERS.has(name.toLowerCase()) ? policyWithNonce(value, nonce) : value
  }
  return { body: Buffer.concat(parts), headers: withHeaders(headers, HTML_HEADERS), nonce }
}

const TAG_NAMES = ['<script', '<style', '<link'].map((name) => Buffer.from(name))
// What may follow a tag name in a start tag: whitespace, '/' or '>'.
const AFTER_NAME = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x2f, 0x3e])

/**
 * Checks, cheaply, that every slot is where the manifest says: right after `<script`, `<style` or `<link`
 * (any case), ascending, outside the policy meta, which must be a CSP meta tag. A manifest edited by hand or
 * paired with the wrong file is refused rather than trusted.
 */
function slotsFit(bytes: Uint8Array, slots: ManifestPage['nonceSlots']): boolean {
  if (!slots || !Array.isArray(slots.tags)) return false
  const inRange = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= bytes.length
  let metaStart: number
  let metaEnd: number
  if (typeof slots.meta === 'number') {
    if (!inRange(slots.meta)) return false
    metaStart = metaEnd = slots.meta
  } else {
    if (!Array.isArray(slots.meta) || slots.meta.length !== 2) return false
    metaStart = slots.meta[0]
    metaEnd = slots.meta[1]
    if (!inRange(metaStart) || !inRange(metaEnd) || metaEnd <= metaStart) return false
    const tag = Buffer.from(bytes.subarray(metaStart, metaEnd)).toString('latin1')
    if (!/^<meta\s[^<>]*http-equiv\s*=\s*["']?content-security-policy["'\s][^<>]*>$/i.test(tag)) return false
  }
  if (slots.ngCspNonce !== undefined && !rootSlotsFit(bytes, slots.ngCspNonce, metaStart, metaEnd)) return false
  let previous = -1
  for (const offset of slots.tags) {
    if (!inRange(offset) || offset <= previous || offset >= bytes.length) return false
    if (offset > metaStart && offset < metaEnd) return false
    if (!AFTER_NAME.has(bytes[offset]!)) return false
    const fits = TAG_NAMES.some((name) => offset >= name.length && equalsIgnoringCase(bytes.subarray(offset - name.length, offset), name))
    if (!fits) return false
    previous = offset
  }
  return true
}

/** A custom element's start tag right before the slot (what an Angular root is), outside the policy meta. */
const CUSTOM_ELEMENT_TAG = /<[a-z][a-z0-9._]*-[a-z0-9._-]*$/i

function rootSlotsFit(bytes: Uint8Array, offsets: unknown, metaStart: number, metaEnd: number): boolean {
  if (!Array.isArray(offsets) || offsets.length > 1) return false
  for (const offset of offsets as unknown[]) {
    if (!Number.isInteger(offset) || (offset as number) <= 0 || (offset as number) >= bytes.length) return false
    const at = offset as number
    if (at > metaStart && at < metaEnd) return false
    if (!AFTER_NAME.has(bytes[at]!)) return false
    if (!CUSTOM_ELEMENT_TAG.test(Buffer.from(bytes.subarray(Math.max(0, at - 128), at)).toString('latin1'))) return false
  }
  return true
}

function equalsIgnoringCase(bytes: Uint8Array, lowerAscii: Uint8Array): boolean {
  if (bytes.length !== lowerAscii.length) return false
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    const lower = byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte
    if (lower !== lowerAscii[i]) return false
  }
  return true
}
