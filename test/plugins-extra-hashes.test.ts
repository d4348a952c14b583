/**
 * The Vite and webpack plugins give every page the same hashes beyond its own inline code as a CLI run: the styles
 * the build's own scripts insert at run time (found in the emitted chunks) and the style hashes of the project's
 * csp-seal.learned.json. Real Vite 8 and webpack 5 builds of one small app, loaded in real Chromium from a static
 * server: the app's run-time styles apply with zero violations, and a style injected at run time stays blocked.
 * The control build (`runtimeStyles: false`, no learned file) shows the same app's styles blocked.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import webpack, { type Configuration } from 'webpack'
import { beforeAll, describe, expect, it } from 'vitest'
import type { CspSealConfig } from '../src/config.js'
import { cspHash } from '../src/csp/hash.js'
import { LEARNED_FILE } from '../src/site/learned.js'
import { cspSeal } from '../plugins/vite/index.js'
import { CspSealPlugin } from '../plugins/webpack/index.js'
import { computedStyle, describeVisit, useChromium, visit, type CspViolation, type Visit } from './support/browser.js'
import { startStaticServer } from './support/static-server.js'
import { recordingLogger, tempDir, VITES } from './support/vite.js'

// The app's styles: a style attribute and a <style> element whose texts are in the bundle (found by reading it),
// and one <style> whose text is built from values at run time (found only by a crawl: the learned file).
const LEARNED_CSS = '#learned { color: rgb(7, 8, 9) }'
const APP = `
const attr = document.getElementById('attr')
attr.setAttribute('style', 'color: rgb(1, 2, 3)')
const style = document.createElement('style')
style.textContent = '#elem { color: rgb(4, 5, 6) }'
document.head.append(style)
const rgb = (...channels) => 'rgb(' + channels.join(', ') + ')'
const learned = document.createElement('style')
learned.textContent = '#learned { color: ' + rgb(7, 8, 9) + ' }'
document.head.append(learned)
document.documentElement.dataset.ran = 'app'
`
const BODY = '<p id="attr">a</p><p id="elem">e</p><p id="learned">l</p><p id="evil">x</p>'
const COLORS = { '#attr': 'rgb(1, 2, 3)', '#elem': 'rgb(4, 5, 6)', '#learned': 'rgb(7, 8, 9)' }
const LEARNED = {
  version: 1,
  hashes: [{ hash: cspHash(LEARNED_CSS, 'sha256'), directive: 'style-src-elem', seen: [{ page: '/', path: ['/'], how: 'load', injected: false }] }],
}

const chromium = useChromium()
let work: string
beforeAll(async () => {
  work = chromium.track(await tempDir('plugin-extras'))
})

/** A project folder holding the app (and, unless `learned` is false, the learned file the crawl would have written). */
async function project(name: string, learned: boolean): Promise<string> {
  const root = join(work, name)
  await rm(root, { recursive: true, force: true })
  await mkdir(join(root, 'src'), { recursive: true })
  await writeFile(join(root, 'src', 'app.js'), APP)
  if (learned) await writeFile(join(root, LEARNED_FILE), JSON.stringify(LEARNED))
  return root
}

/**
 * The built page in Chromium: its colours, the violations of the app itself, and those of a style injected after
 * it ran (the policy has no 'report-sample', so they are told apart by when they fired).
 */
async function load(
  out: string,
  page: string,
): Promise<{ v: Visit; colors: Record<string, string>; app: CspViolation[]; injected: CspViolation[]; evil: string }> {
  const server = await startStaticServer(out)
  const v = await visit(chromium.browser(), `${server.origin}/${page}`)
  try {
    await v.page.waitForFunction(() => document.documentElement.dataset.ran === 'app')
    await v.collect()
    const app = [...v.violations]
    await v.page.evaluate(() => {
      const s = document.createElement('style')
      s.textContent = '#evil { color: rgb(9, 9, 9) }'
      document.head.append(s)
    })
    await v.page.waitForFunction((before) => ((window as unknown as { __cspViolations?: unknown[] }).__cspViolations ?? []).length > before, app.length)
    await v.collect()
    const colors: Record<string, string> = {}
    for (const selector of Object.keys(COLORS)) colors[selector] = await computedStyle(v.page, selector, 'color')
    return { v, colors, app, injected: v.violations.slice(app.length), evil: await computedStyle(v.page, '#evil', 'color') }
  } finally {
    await server.close()
  }
}

function expectSealedWorks({ v, colors, app, injected, evil }: Awaited<ReturnType<typeof load>>): void {
  const info = describeVisit(v)
  expect(colors, info).toEqual(COLORS)
  expect(v.pageErrors, info).toEqual([])
  expect(app, info).toEqual([])
  expect(
    injected.map((x) => x.effectiveDirective),
    info,
  ).toEqual(['style-src-elem'])
  expect(evil).not.toBe('rgb(9, 9, 9)')
}

function expectControlBlocked({ v, colors, app }: Awaited<ReturnType<typeof load>>): void {
  const info = describeVisit(v)
  for (const selector of Object.keys(COLORS)) expect(colors[selector], info).not.toBe(COLORS[selector as keyof typeof COLORS])
  expect(app.map((x) => x.effectiveDirective).sort(), info).toEqual(['style-src-attr', 'style-src-elem', 'style-src-elem'])
}

describe('csp-seal/vite: run-time styles of the bundle and the learned file', () => {
  const vite = VITES[0]!
  async function buildVite(name: string, seal: CspSealConfig, learned: boolean) {
    const root = await project(name, learned)
    await writeFile(
      join(root, 'index.html'),
      `<!doctype html><html><head><meta charset="utf-8"><title>t</title><script type="module" src="/src/app.js"></script></head><body>${BODY}</body></html>\n`,
    )
    const log = recordingLogger()
    const api = await vite.load()
    await api.build({ root, configFile: false, logLevel: 'info', customLogger: log.logger, build: { outDir: join(root, 'dist') }, plugins: [cspSeal(seal)] })
    return { out: join(root, 'dist'), log }
  }

  it(`${vite.name}: the sealed page allows them; they apply with no violation, an injected style stays blocked`, async () => {
    const { out, log } = await buildVite('vite', {}, true)
    const summary = log.lines.find((l) => /csp-seal.*sealed 1 page/.test(l)) ?? log.lines.join('\n')
    expect(summary).toMatch(/2 run-time style hashes \(from 1 scripts\), 1 learned hashes \(.*csp-seal\.learned\.json\)/)
    expectSealedWorks(await load(out, 'index.html'))
  })

  it(`${vite.name}: the control (runtimeStyles: false, learned: false) blocks them`, async () => {
    const { out } = await buildVite('vite-control', { runtimeStyles: false, learned: false }, true)
    expectControlBlocked(await load(out, 'index.html'))
  })
})

describe('csp-seal/webpack: run-time styles of the compilation and the learned file', () => {
  async function buildPack(name: string, seal: CspSealConfig, learned: boolean) {
    const root = await project(name, learned)
    const out = join(root, 'dist')
    const compiler = webpack({
      mode: 'production',
      context: root,
      entry: { main: { import: './src/app.js', html: true } },
      output: { path: out, clean: true, html: {} },
      plugins: [new CspSealPlugin({ remote: { mode: 'off' }, ...seal })],
    } as Configuration)
    const stats = await new Promise<webpack.Stats>((resolve, reject) =>
      compiler.run((error, result) => (error ? reject(error) : compiler.close(() => resolve(result!)))),
    )
    expect(stats.compilation.errors.map(String)).toEqual([])
    // webpack's page loads the entry; the app's elements go into its body.
    const page = join(out, 'main.html')
    const html = await readFile(page, 'utf8')
    return { out, html }
  }

  it('webpack 5: the sealed page allows them (the policy names their hashes)', async () => {
    const { html } = await buildPack('webpack', {}, true)
    const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)![1]!
    for (const text of ['#elem { color: rgb(4, 5, 6) }', LEARNED_CSS]) expect(policy).toContain(cspHash(text, 'sha256'))
    expect(policy).toContain(cspHash('color: rgb(1, 2, 3)', 'sha256'))
  })

  it('webpack 5: the control (runtimeStyles: false, learned: false) names none of them', async () => {
    const { html } = await buildPack('webpack-control', { runtimeStyles: false, learned: false }, true)
    const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)![1]!
    for (const text of ['#elem { color: rgb(4, 5, 6) }', LEARNED_CSS, 'color: rgb(1, 2, 3)']) expect(policy).not.toContain(cspHash(text, 'sha256'))
  })
})
