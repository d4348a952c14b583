/**
 * Angular in nonce mode, in real Chromium: Angular inserts every component's CSS as a `<style>` element at run time
 * and takes the nonce for them from an `ngCspNonce` attribute on the app root. csp-seal finds the root (`<app-root>`,
 * a component selector of the build's own bundle) and records a slot there; the Node middleware fills it with each
 * response's nonce. On the Angular fixture (an `ng new` app): Angular's styles carry the response's nonce (and none
 * without the slot), and an injected script stays blocked. That every page and client route of both Angular
 * fixtures then works with zero violations is in test/frameworks.test.ts.
 */
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { sealDirectory } from '../src/index.js'
import type { Manifest } from '../src/output/manifest.js'
import { angularComponentSelectors } from '../src/site/angular.js'
import { useChromium, visit } from './support/browser.js'
import { copyFixtureSite, listFrameworkFixtures, serveWithNonces, type SiteServer } from './support/frameworks.js'

const angular = listFrameworkFixtures().find((f) => f.name === 'angular')!
const MAX_BYTES = 64 * 1024 * 1024

const chromium = useChromium()

/** Angular's inserted `<style>` elements (not the page's own) and the nonce each carries. */
async function angularStyles(host: SiteServer, urlPath: string) {
  const v = await visit(chromium.browser(), host.url(urlPath))
  try {
    await v.page.waitForSelector(angular.ready)
    const header = v.response!.headers()['content-security-policy'] ?? ''
    const nonce = /'nonce-([^']+)'/.exec(header)?.[1]
    const styles = await v.page.evaluate(() =>
      Array.from(document.querySelectorAll('head style'), (s) => ({ nonce: (s as HTMLStyleElement).nonce ?? '', text: s.textContent ?? '' })),
    )
    const rootAttribute = await v.page.evaluate(() => document.querySelector('app-root')?.getAttribute('ngcspnonce') ?? null)
    // An attack: a script inserted without the nonce.
    await v.page.evaluate(() => {
      const script = document.createElement('script')
      script.textContent = '(window.__ran = window.__ran || []).push("injected")'
      document.body.append(script)
    })
    await v.collect()
    return { nonce, styles, rootAttribute, ran: v.ran, violations: v.violations }
  } finally {
    await v.close()
  }
}

describe('Angular in nonce mode, through the Node middleware', () => {
  it("finds the root component among the bundle's selectors, and records its slot", async () => {
    expect(angularComponentSelectors(angular.siteDir, MAX_BYTES)).toContain('app-root')
    const vue = listFrameworkFixtures().find((f) => f.name === 'vue')!
    expect(angularComponentSelectors(vue.siteDir, MAX_BYTES)).toEqual([])
  })

  it('component styles carry the response nonce, through the slot on the app root; an injected script stays blocked', async () => {
    const dir = await copyFixtureSite(angular)
    chromium.track(dir)
    // The build's critical-CSS loader is an onload= handler (<link media=print onload="this.media='all'">): allowed by
    // hash. The About template's static style="…" is set by Angular with setAttribute at run time, which no nonce
    // covers: style attributes get 'unsafe-inline' in style-src-attr, the split kept for run-time styles.
    await sealDirectory(dir, { eventHandlers: 'hash', policy: { 'style-src-attr': "'unsafe-inline'" } })
    const manifest = JSON.parse(await readFile(path.join(dir, 'csp-seal.json'), 'utf8')) as Manifest
    const slots = manifest.pages['index.html']!.nonceSlots
    expect(slots.ngCspNonce).toHaveLength(1)
    const sealedBytes = await readFile(path.join(dir, 'index.html'))
    const sealedHtml = sealedBytes.toString('utf8')
    expect(sealedBytes.subarray(slots.ngCspNonce![0]! - '<app-root'.length, slots.ngCspNonce![0]).toString()).toBe('<app-root')

    const host = await serveWithNonces(dir, angular)
    try {
      const seen = await angularStyles(host, '/about')
      // The page's own critical CSS is in the sealed file; Angular's component styles are not.
      const inserted = (styles: { nonce: string; text: string }[]) => styles.filter((s) => s.text !== '' && !sealedHtml.includes(s.text))
      expect(inserted(seen.styles).length).toBeGreaterThanOrEqual(2)
      expect(seen.nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/)
      expect(seen.rootAttribute).toBe(seen.nonce)
      // Angular's component styles carry this response's nonce.
      expect(inserted(seen.styles).every((s) => s.nonce === seen.nonce)).toBe(true)
      expect(seen.ran).not.toContain('injected')
      expect(seen.violations.map((v) => v.effectiveDirective)).toEqual(['script-src-elem'])
      const again = await angularStyles(host, '/about')
      expect(again.nonce).not.toBe(seen.nonce)
    } finally {
      await host.close()
    }

    // The control: the same page without the root slot gives Angular no nonce for its styles.
    const manifestPath = path.join(dir, 'csp-seal.json')
    const { ngCspNonce: _, ...withoutRoot } = slots
    manifest.pages['index.html']!.nonceSlots = withoutRoot
    await writeFile(manifestPath, JSON.stringify(manifest))
    const bare = await serveWithNonces(dir, angular)
    try {
      const seen = await angularStyles(bare, '/about')
      expect(seen.rootAttribute).toBeNull()
      const inserted = seen.styles.filter((s) => s.text !== '' && !sealedHtml.includes(s.text))
      expect(inserted.length).toBeGreaterThanOrEqual(2)
      expect(inserted.filter((s) => s.nonce !== '')).toEqual([])
    } finally {
      await bare.close()
    }
  })
})
