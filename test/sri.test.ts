/** Integrity matching, in one place: what browsers accept (SRI) and what a policy allows by integrity (CSP3). */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { bytesMatch, cachedDigests, digestsOf, integrityAccepts, integrityAllowedBy, integrityOf, integritySources } from '../src/sri/integrity.js'

const bytes = Buffer.from('console.log(1)')
const digest = (algorithm: string) => createHash(algorithm).update(bytes).digest('base64')

describe('integrityAccepts: what a browser does with an integrity attribute', () => {
  const digests = digestsOf(bytes)
  it('uses only the strongest algorithm listed, any of its values', () => {
    expect(integrityAccepts(`sha384-${digest('sha384')}`, digests)).toBe(true)
    expect(integrityAccepts(`sha256-${digest('sha256')} sha384-AAAA`, digests)).toBe(false)
    expect(integrityAccepts(`sha256-AAAA sha384-AAAA sha384-${digest('sha384')}`, digests)).toBe(true)
    expect(integrityAccepts(`sha512-${digest('sha512')} sha256-AAAA`, digests)).toBe(true)
  })
  it('ignores options, unknown algorithms, digests that are not base64, and whitespace', () => {
    expect(integrityAccepts(`  md5-xyz\nsha384-${digest('sha384')}?opt=1 `, digests)).toBe(true)
    expect(integrityAccepts(`sha384-${digest('sha384')} sha512-not*base64`, digests)).toBe(true)
  })
  it('is undefined when no hash is there to check', () => {
    expect(integrityAccepts('', digests)).toBeUndefined()
    expect(integrityAccepts('md5-abc bogus', digests)).toBeUndefined()
  })
  it('checks bytes the same way, and writes the value it accepts', () => {
    expect(bytesMatch(bytes, integrityOf(bytes))).toBe(true)
    expect(bytesMatch(Buffer.from('other'), integrityOf(bytes))).toBe(false)
    expect(integrityOf(bytes, 'sha256')).toBe(`sha256-${digest('sha256')}`)
  })
})

describe('integritySources: what a policy must list to allow a script by its integrity (CSP3)', () => {
  it('gives a hash source per hash, and a script passes only when every one is listed', () => {
    const value = `sha384-${digest('sha384')} sha512-${digest('sha512')}?x`
    const sources = integritySources(value)
    expect(sources).toEqual([`'sha384-${digest('sha384')}'`, `'sha512-${digest('sha512')}'`])
    expect(integrityAllowedBy(value, ["'self'", ...sources])).toBe(true)
    expect(integrityAllowedBy(value, ["'self'", sources[0]!])).toBe(false)
    expect(integrityAllowedBy('bogus', ["'self'"])).toBe(false)
  })
})

describe('cachedDigests', () => {
  it('reads and hashes each file once, however many pages ask at once', async () => {
    let reads = 0
    const digests = cachedDigests(async (path) => {
      reads++
      return path === 'a.js' ? bytes : undefined
    })
    const [a, b, missing] = await Promise.all([digests('a.js'), digests('a.js'), digests('b.js')])
    expect(a).toEqual(digestsOf(bytes))
    expect(b).toBe(a)
    expect(missing).toBeUndefined()
    expect(reads).toBe(2)
  })
})
