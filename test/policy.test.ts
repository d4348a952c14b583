import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { allow, allowNonce } from '../src/csp/allow.js'
import { allowsAllInline, allowsInline, unsafeInlineInForce } from '../src/csp/inline.js'
import { evaluatorWarnings } from '../src/csp/evaluate.js'
import { governingDirective, mergePolicy, parsePolicy, serializePolicy, type Policy, type PolicyInput } from '../src/csp/policy.js'
import { DEFAULT_POLICY } from '../src/config.js'
import { SealError } from '../src/problems.js'
import { propertyRuns } from './support/property-runs.js'

const H = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='" // sha256 of ""

function problemsOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof SealError) return error.message
    throw error
  }
  throw new Error('expected a SealError')
}

describe('parsePolicy / serializePolicy', () => {
  it('parses header text, lowercases names and keywords, keeps order', () => {
    const policy = parsePolicy("Default-Src 'SELF';  script-src 'self' https://cdn.example.com:443/lib/ ;img-src data: blob:;upgrade-insecure-requests")
    expect([...policy]).toEqual([
      ['default-src', ["'self'"]],
      ['script-src', ["'self'", 'https://cdn.example.com:443/lib/']],
      ['img-src', ['data:', 'blob:']],
      ['upgrade-insecure-requests', []],
    ])
    expect(serializePolicy(policy)).toBe(
      "default-src 'self'; script-src 'self' https://cdn.example.com:443/lib/; img-src data: blob:; upgrade-insecure-requests",
    )
  })

  it('accepts the object form', () => {
    const policy = parsePolicy({ 'default-src': "'self'", 'img-src': ["'self'", 'data:'], 'upgrade-insecure-requests': true })
    expect(serializePolicy(policy)).toBe("default-src 'self'; img-src 'self' data:; upgrade-insecure-requests")
  })

  it.each([
    ["script-src 'self'; scripts-src 'self'", 'unknown directive "scripts-src"'],
    ['script-src self', "write 'self' with single quotes"],
    ["script-src 'unsafe-inlined'", 'is not a valid source expression'],
    ["script-src 'sha256-abc'", 'is not a valid source expression'],
    ["default-src 'self', script-src 'none'", 'a comma starts a second policy'],
    ["script-src 'nonce-abc123'", 'a literal nonce'],
    ["script-src 'none' 'self'", "'none' in script-src must stand alone"],
    ["script-src 'self'; script-src https:", 'appears twice'],
    ['img-src https://exämple.com', 'non-ASCII'],
    ['plugin-types application/pdf', 'browsers removed it'],
    ['sandbox allow-everything', 'is not a sandbox flag'],
    ['report-to a b', 'takes exactly one endpoint name'],
  ])('rejects %s', (text, message) => {
    expect(problemsOf(() => parsePolicy(text))).toContain(message)
  })

  it.each([
    [{ 'script-src': ["'self'; object-src *"] }],
    [{ 'script-src': ["'self',https://evil.example"] }],
    [{ 'script-src': ["'self'\nreport-uri /x"] }],
    [{ 'script-src;': "'self'" }],
  ])('rejects values that smuggle separators: %j', (input) => {
    // Checked at run time too: config files in plain JavaScript get no type check.
    expect(() => parsePolicy(input as PolicyInput)).toThrow(SealError)
  })

  it('validates hash lengths per algorithm', () => {
    expect(() => parsePolicy(`script-src ${H}`)).not.toThrow()
    expect(() => parsePolicy(`script-src ${H.replace('sha256', 'sha384')}`)).toThrow(/not a valid source expression/)
  })

  it('reports every problem at once', () => {
    const message = problemsOf(() => parsePolicy("script-sorce x; img-src 'bad'"))
    expect(message).toContain('script-sorce')
    expect(message).toContain("'bad'")
  })
})

describe('mergePolicy', () => {
  it('unions source lists per directive and drops a superseded none', () => {
    const merged = mergePolicy(parsePolicy("default-src 'self'; img-src 'none'"), parsePolicy('img-src data:; connect-src https://api.example.com'))
    expect(serializePolicy(merged)).toBe("default-src 'self'; img-src data:; connect-src https://api.example.com")
  })
  it('keeps only sandbox flags every policy grants', () => {
    const merged = mergePolicy(parsePolicy('sandbox allow-scripts allow-forms'), parsePolicy('sandbox allow-scripts'))
    expect(merged.get('sandbox')).toEqual(['allow-scripts'])
  })
})

describe('allow (fallback and unsafe-inline rules)', () => {
  const p = (text: string): Policy => parsePolicy(text)
  it("creates script-src from default-src so 'self' survives", () => {
    const policy = p("default-src 'self' https://a.example")
    allow(policy, 'script', 'elem', [H])
    expect(policy.get('script-src')).toEqual(["'self'", 'https://a.example', H])
    expect(policy.get('default-src')).toEqual(["'self'", 'https://a.example'])
  })
  it('adds to script-src-elem when the user set it', () => {
    const policy = p("script-src 'self'; script-src-elem 'self'")
    allow(policy, 'script', 'elem', [H])
    expect(policy.get('script-src-elem')).toEqual(["'self'", H])
    expect(policy.get('script-src')).toEqual(["'self'"])
  })
  it("never adds a hash where the user kept 'unsafe-inline'", () => {
    const policy = p("style-src 'self' 'unsafe-inline'")
    const outcome = allow(policy, 'style', 'elem', [H, 'https://cdn.example'])
    expect(outcome.keptUnsafeInline).toBe('style-src')
    expect(policy.get('style-src')).toEqual(["'self'", "'unsafe-inline'", 'https://cdn.example'])
  })
  it("adds hashes where 'unsafe-inline' is only a fallback for old browsers (next to 'strict-dynamic' or a hash)", () => {
    const policy = p("script-src 'strict-dynamic' 'unsafe-inline' https:")
    expect(allow(policy, 'script', 'elem', [H]).keptUnsafeInline).toBeUndefined()
    expect(policy.get('script-src')).toEqual(["'strict-dynamic'", "'unsafe-inline'", 'https:', H])
  })
  it('respects a style-src-elem / style-src-attr split', () => {
    const policy = p("style-src 'self'; style-src-attr 'unsafe-inline'")
    expect(allow(policy, 'style', 'attr', ["'unsafe-hashes'", H]).keptUnsafeInline).toBe('style-src-attr')
    allow(policy, 'style', 'elem', [H])
    expect(serializePolicy(policy)).toBe(`style-src 'self' ${H}; style-src-attr 'unsafe-inline'`)
  })
  it('puts attribute hashes in a new *-attr directive with unsafe-hashes only', () => {
    const policy = p(`default-src 'self'; style-src 'self' ${H}`)
    allow(policy, 'style', 'attr', ["'unsafe-hashes'", H])
    expect(policy.get('style-src-attr')).toEqual(["'unsafe-hashes'", H])
  })
  it('adds nothing when nothing restricts the family', () => {
    const policy = p("img-src 'self'")
    allow(policy, 'script', 'elem', [H])
    expect(serializePolicy(policy)).toBe("img-src 'self'")
  })
  it("'unsafe-hashes' does not switch 'unsafe-inline' off: no hash goes next to both", () => {
    const policy = p("script-src 'self' 'unsafe-inline' 'unsafe-hashes'")
    expect(allow(policy, 'script', 'elem', [H]).keptUnsafeInline).toBe('script-src')
    expect(policy.get('script-src')).toEqual(["'self'", "'unsafe-inline'", "'unsafe-hashes'"])
  })
  it('follows the CSP fallback chains', () => {
    expect(governingDirective(p("default-src 'self'"), 'script-src-attr')).toBe('default-src')
    expect(governingDirective(p("script-src 'self'"), 'worker-src')).toBe('script-src')
    expect(governingDirective(p("default-src 'self'"), 'base-uri')).toBeUndefined()
  })
})

describe("the one rule for 'unsafe-inline' (CSP3 §6.7.3.3) and for inline code", () => {
  const p = (text: string): Policy => parsePolicy(text)
  it("is in force unless a hash or nonce is listed, or 'strict-dynamic' for scripts", () => {
    expect(unsafeInlineInForce(["'unsafe-inline'"], 'script-src-elem')).toBe(true)
    expect(unsafeInlineInForce(["'unsafe-inline'", "'unsafe-hashes'"], 'script-src-attr')).toBe(true)
    expect(unsafeInlineInForce(["'unsafe-inline'", H], 'style-src-elem')).toBe(false)
    expect(unsafeInlineInForce(["'unsafe-inline'", "'strict-dynamic'"], 'script-src-elem')).toBe(false)
    expect(unsafeInlineInForce(["'unsafe-inline'", "'strict-dynamic'"], 'style-src-elem')).toBe(true)
    expect(unsafeInlineInForce(["'self'"], 'script-src-elem')).toBe(false)
    expect(allowsAllInline(p("img-src 'self'"), 'script-src-elem')).toBe(true)
    expect(allowsAllInline(p("default-src 'self' 'unsafe-inline'"), 'style-src-elem')).toBe(true)
    expect(allowsAllInline(p("default-src 'self' 'unsafe-inline'; style-src 'self'"), 'style-src-attr')).toBe(false)
  })
  it('allows inline code by hash in any algorithm (base64url too), attributes only with unsafe-hashes', () => {
    const sha384 = `'sha384-${createHash('sha384').update('x()').digest('base64')}'`
    const url = `'sha256-${createHash('sha256').update('y()').digest('base64url')}'`
    expect(allowsInline(p(`script-src ${sha384}`), 'script-src-elem', 'x()')).toBe(true)
    expect(allowsInline(p(`script-src ${url}`), 'script-src-elem', 'y()')).toBe(true)
    expect(allowsInline(p(`script-src ${sha384}`), 'script-src-elem', 'z()')).toBe(false)
    expect(allowsInline(p(`script-src ${sha384}`), 'script-src-attr', 'x()')).toBe(false)
    expect(allowsInline(p(`script-src 'unsafe-hashes' ${sha384}`), 'script-src-attr', 'x()')).toBe(true)
    expect(allowsInline(p("script-src 'none'"), 'script-src-elem', '')).toBe(false)
  })
  it("adds a nonce by the rules hashes follow: not where 'unsafe-inline' is in force, nor where the user wrote 'none' for the family", () => {
    const withNonce = (text: string) => {
      const policy = p(text)
      allowNonce(policy, 'n0nce')
      return serializePolicy(policy)
    }
    expect(withNonce("default-src 'self'")).toBe("default-src 'self'; script-src 'self' 'nonce-n0nce'; style-src 'self' 'nonce-n0nce'")
    expect(withNonce("default-src 'none'")).toBe("default-src 'none'; script-src 'nonce-n0nce'; style-src 'nonce-n0nce'")
    expect(withNonce("default-src 'none'; script-src 'none'; style-src-elem 'none'")).toBe("default-src 'none'; script-src 'none'; style-src-elem 'none'")
    expect(withNonce("script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline' 'unsafe-hashes'")).toBe(
      "script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline' 'unsafe-hashes'",
    )
    expect(withNonce(`script-src 'unsafe-inline' ${H}`)).toBe(`script-src 'unsafe-inline' ${H} 'nonce-n0nce'`)
  })
})

describe('the default policy', () => {
  it('parses and has no high-severity CSP Evaluator finding, even with hashes added', () => {
    const policy = parsePolicy(DEFAULT_POLICY)
    allow(policy, 'script', 'elem', [H])
    allow(policy, 'style', 'attr', ["'unsafe-hashes'", H])
    expect(evaluatorWarnings([serializePolicy(policy)])).toEqual([])
    expect(evaluatorWarnings(["script-src 'unsafe-inline' https:"]).length).toBeGreaterThan(0)
  })
})

// Generated policies: every emitted policy must parse back to itself.
const keyword = fc.constantFrom(
  "'self'",
  "'none'",
  "'unsafe-inline'",
  "'unsafe-eval'",
  "'strict-dynamic'",
  "'unsafe-hashes'",
  "'wasm-unsafe-eval'",
  "'report-sample'",
)
const host = fc
  .tuple(
    fc.constantFrom('', 'https://', 'wss://'),
    fc.constantFrom('', '*.'),
    fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/),
    fc.constantFrom('.com', '.example.org', ''),
    fc.constantFrom('', ':443', ':*'),
    fc.constantFrom('', '/', '/lib/x.js'),
  )
  .map((parts) => parts.join(''))
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => `'sha256-${Buffer.from(bytes).toString('base64')}'`)
const source = fc.oneof(keyword, host, hash, fc.constantFrom('https:', 'data:', 'blob:', '*'))
const fetchDirective = fc.constantFrom(
  'default-src',
  'script-src',
  'script-src-elem',
  'script-src-attr',
  'style-src',
  'style-src-elem',
  'style-src-attr',
  'img-src',
  'connect-src',
  'font-src',
  'object-src',
  'base-uri',
  'form-action',
  'frame-src',
  'worker-src',
)
const policyArb = fc
  .uniqueArray(fc.tuple(fetchDirective, fc.uniqueArray(source, { minLength: 1, maxLength: 5 })), { selector: ([name]) => name, minLength: 1, maxLength: 8 })
  .map((entries) => entries.map(([name, sources]) => [name, sources.includes("'none'") ? ["'none'"] : sources] as [string, string[]]))

describe('policy properties', () => {
  it('serialize ∘ parse is the identity on valid policies', () => {
    fc.assert(
      fc.property(policyArb, (entries) => {
        const text = entries.map(([name, sources]) => `${name} ${sources.join(' ')}`).join('; ')
        const policy = parsePolicy(text)
        expect([...policy]).toEqual(entries)
        expect(serializePolicy(parsePolicy(serializePolicy(policy)))).toBe(serializePolicy(policy))
      }),
      { numRuns: propertyRuns(500) },
    )
  })
  it('merging and allowing always yields a valid, re-parseable policy', () => {
    fc.assert(
      fc.property(policyArb, policyArb, fc.array(hash, { maxLength: 4 }), (a, b, hashes) => {
        const merged = mergePolicy(parsePolicy(Object.fromEntries(a)), parsePolicy(Object.fromEntries(b)))
        allow(merged, 'script', 'elem', hashes)
        allow(merged, 'style', 'attr', ["'unsafe-hashes'", ...hashes])
        const text = serializePolicy(merged)
        expect(serializePolicy(parsePolicy(text))).toBe(text)
      }),
      { numRuns: propertyRuns(500) },
    )
  })
  it('rejects any value that smuggles a separator or control character', () => {
    fc.assert(
      fc.property(source, fc.constantFrom(';', ',', '\n', '\r', '\0'), source, (left, sep, right) => {
        expect(() => parsePolicy({ 'script-src': [`${left}${sep}${right}`] })).toThrow(SealError)
      }),
      { numRuns: propertyRuns(300) },
    )
  })
})
