import { createHash } from 'node:crypto'

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512'
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512']

/** The CSP hash source for inline text: the browser hashes the UTF-8 encoding of the parsed text. */
export function cspHash(text: string, algorithm: HashAlgorithm = 'sha256'): string {
  return `'${algorithm}-${createHash(algorithm).update(text, 'utf8').digest('base64')}'`
}

/** The SRI integrity value (`sha384-…`) of raw bytes. */
export function integrityOf(bytes: Uint8Array, algorithm: HashAlgorithm = 'sha384'): string {
  return `${algorithm}-${createHash(algorithm).update(bytes).digest('base64')}`
}
