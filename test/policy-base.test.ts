/**
 * A partial policy keeps the default one (directive by directive), `policyBase: 'none'` starts from nothing, the
 * summary says where the policy came from, and a warning fires only where the user should act.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_POLICY, parsePolicy, resolveConfig, sealHtml, serializePolicy, type CspSealConfig } from '../src/index.js'
import { cli } from './support/cli.js'
import { useTempDirs } from './support/sites.js'

const { fixture } = useTempDirs()
const effective = (config: CspSealConfig) => serializePolicy(resolveConfig(config).policy)

describe('a partial policy', () => {
  it('replaces the default directive by directive and keeps the rest', () => {
    expect(effective({ policy: "style-src-attr 'unsafe-inline'" })).toBe(
      "style-src-attr 'unsafe-inline'; default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
    )
    expect(effective({ policy: { 'img-src': ["'self'", 'https://images.example.com'] } })).toBe(
      "img-src 'self' https://images.example.com; default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
    )
  })

  it("lets your default-src govern what falls back to it, but keeps object-src 'none'", () => {
    expect(effective({ policy: "default-src 'self' https://cdn.example.com" })).toBe(
      "default-src 'self' https://cdn.example.com; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
    )
    expect(effective({ policy: "default-src 'self'; object-src 'self'" })).toBe(
      "default-src 'self'; object-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
    )
  })

  it("is used alone with policyBase: 'none', which needs a policy", () => {
    expect(effective({ policy: "script-src 'self'", policyBase: 'none' })).toBe("script-src 'self'")
    expect(() => resolveConfig({ policyBase: 'none' })).toThrow(/policyBase: 'none' leaves no policy/)
    expect(effective({})).toBe(serializePolicy(parsePolicy(DEFAULT_POLICY)))
  })

  it('keeps the defaults in the sealed page, and the summary says where each directive came from', async () => {
    const dir = await fixture('example-site')
    const run = await cli([dir, '--policy', "style-src-attr 'unsafe-inline'", '--json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.out)
    const index = report.pages.find((p: { file: string }) => p.file === 'index.html').policy as string
    for (const directive of ["default-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "style-src-attr 'unsafe-inline'"])
      expect(index).toContain(directive)
    expect(report.policy).toEqual({
      base: 'default',
      yours: ['style-src-attr'],
      fromDefault: ['default-src', 'script-src', 'style-src', 'img-src', 'font-src', 'object-src', 'base-uri', 'form-action', 'frame-ancestors'],
    })
    expect(run.err).toMatch(
      /policy\s+yours: style-src-attr; from csp-seal's default: default-src, script-src, style-src, img-src, font-src, object-src, base-uri, form-action, frame-ancestors\n/,
    )
    const alone = await cli([await fixture('example-site'), '--policy', "default-src 'self'", '--policy-base', 'none'])
    expect(alone.out).toMatch(/policy\s+yours alone \(policyBase 'none'\): default-src\n/)
    const none = await cli([await fixture('example-site')])
    expect(none.out).toMatch(/policy\s+csp-seal's default policy\n/)
  })
})

describe('warnings mean the user should act', () => {
  const page = '<!doctype html><html><head><meta charset="utf-8"><style>p{}</style></head><body><p style="color:red">x</p></body></html>'
  const codes = async (config: CspSealConfig) => (await sealHtml(page, { config })).warnings.map((w) => w.code)

  it("the default policy's own frame-ancestors does not warn without header files; yours does", async () => {
    expect(await codes({})).not.toContain('header-only-directive')
    expect(await codes({ policy: "frame-ancestors 'none'" })).toContain('header-only-directive')
    expect(await codes({ headers: ['netlify'], policy: "frame-ancestors 'none'" })).not.toContain('header-only-directive')
  })

  it("'unsafe-inline' in style-src-attr next to a strict style-src-elem does not warn; in style-src it does", async () => {
    const split = await sealHtml(page, { config: { policy: "style-src-elem 'self'; style-src-attr 'unsafe-inline'" } })
    expect(split.warnings.map((w) => w.code)).not.toContain('unsafe-inline-kept')
    expect(serializePolicy(split.policy)).toMatch(/style-src-attr 'unsafe-inline'(;|$)/) // kept as it is, no hash added
    expect(serializePolicy(split.policy)).toMatch(/style-src-elem 'self' 'sha256-/)
    expect(await codes({ policy: "style-src 'self' 'unsafe-inline'" })).toContain('unsafe-inline-kept')
    // Inline handlers allowed wholesale are still worth a warning.
    const handler = await sealHtml('<button onclick="go()">go</button>', { config: { policy: "script-src-attr 'unsafe-inline'", eventHandlers: 'hash' } })
    expect(handler.warnings.map((w) => w.code)).toContain('unsafe-inline-kept')
  })

  it('a run of the example site with the default policy warns only about what its pages hold', async () => {
    const run = await cli([await fixture('example-site')])
    expect(run.code).toBe(0)
    expect(run.out).not.toMatch(/header-only-directive|frame-ancestors/)
  })
})
