/**
 * WebKit and the hash of the empty string. With `'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='` (the hash
 * of '') in a `'strict-dynamic'` script-src, WebKit runs any `<script src>`, from any origin: an injected one
 * included. Chromium and Firefox block it. csp-seal never hashes an empty inline script (a `<script></script>`
 * runs nothing), so its policies never carry that hash: an injected script stays blocked in all three engines.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { sealDirectory } from '../src/index.js'
import { forEachEngine, type EngineName } from './support/engines/index.js'
import { startReportingProxy, type ReportingProxy } from './support/engines/reporting-proxy.js'
import { supportTable } from './support/engines/support-table.js'
import { visit } from './support/engines/visit.js'
import { removeDir } from './support/sites.js'
import { startStaticServer, type StaticServer } from './support/static-server.js'

const table = supportTable('test/engines-strict-dynamic.test.ts')
const EMPTY_HASH = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
const push = (id: string) => `(window.__ran = window.__ran || []).push('${id}')`
/** What each engine does with an injected script when the empty string's hash is in a 'strict-dynamic' policy. */
const WITH_EMPTY_HASH: Record<EngineName, 'blocked' | 'runs'> = { chromium: 'blocked', firefox: 'blocked', webkit: 'runs' }

let work: string
let attacker: StaticServer
let site: StaticServer
let proxy: ReportingProxy
let sealedPolicy = ''

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'csp-seal-empty-hash-'))
  await writeFile(join(work, 'evil.js'), push('evil'))
  attacker = await startStaticServer(work)
  const injected = `<script src="${attacker.origin}/evil.js"></script>`
  // The attacker's markup lands after sealing, as stored XSS would.
  await writeFile(
    join(work, 'sealed.html'),
    `<!doctype html><html><head><meta charset="utf-8"><title>sealed</title><script></script><script>${push('inline')}</script><script type="module"></script></head><body><p>x</p>INJECT</body></html>`,
  )
  await sealDirectory(work, { policy: "script-src 'strict-dynamic'; object-src 'none'; base-uri 'none'" }, { cwd: work })
  const sealed = await readFile(join(work, 'sealed.html'), 'utf8')
  sealedPolicy = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(sealed)![1]!
  await writeFile(join(work, 'sealed.html'), sealed.replace('INJECT', injected))
  // The same page by hand, with the empty string's hash in the policy.
  const raw = sealed.replace("'strict-dynamic'", `'strict-dynamic' ${EMPTY_HASH}`)
  await writeFile(join(work, 'raw.html'), raw.replace('INJECT', injected))
  site = await startStaticServer(work)
  proxy = await startReportingProxy(site.origin)
})
afterAll(async () => {
  for (const server of [proxy, site, attacker]) await server?.close()
  await removeDir(work)
})

it("csp-seal's policy for a page with empty inline scripts does not carry the empty string's hash", () => {
  expect(sealedPolicy).toContain("'strict-dynamic'")
  expect(sealedPolicy).toContain("'sha256-")
  expect(sealedPolicy).not.toContain(EMPTY_HASH)
})

forEachEngine((engine, name) => {
  it(`the empty string's hash under 'strict-dynamic': an injected <script src> ${WITH_EMPTY_HASH[name] === 'runs' ? 'runs' : 'is blocked'}`, async () => {
    const v = await visit(engine(), proxy, '/raw.html')
    try {
      if (WITH_EMPTY_HASH[name] === 'runs') {
        await v.waitForRan(['inline', 'evil'])
        expect(v.blocked, v.describe()).toEqual([])
      } else {
        await v.waitForReports(1)
        expect(v.ran, v.describe()).toEqual(['inline'])
        expect(v.blocked, v.describe()).toEqual([`script-src-elem ${attacker.origin}/evil.js`])
      }
      table.record(engine(), 'empty-hash-raw', WITH_EMPTY_HASH[name])
    } finally {
      await v.close()
    }
  })

  it('the sealed page with empty inline scripts: its script runs, the injected <script src> is blocked', async () => {
    const v = await visit(engine(), proxy, '/sealed.html')
    try {
      await v.waitForReports(1)
      expect(v.ran, v.describe()).toEqual(['inline'])
      expect(v.blocked, v.describe()).toEqual([`script-src-elem ${attacker.origin}/evil.js`])
      table.record(engine(), 'empty-script-sealed', 'blocked')
    } finally {
      await v.close()
    }
  })
})

table.declareCheck()
