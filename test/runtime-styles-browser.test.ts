/**
 * The SvelteKit fixture sealed by the CLI with default options, in real Chromium: after a client-side navigation,
 * SvelteKit's route announcer (a `<div style="position: absolute; …">` its JavaScript inserts) keeps its style
 * attribute with no violation, because csp-seal found the attribute in the bundle and hashed it. The same site
 * sealed with `--no-runtime-styles` is the control: there the announcer's attribute is blocked. And a style
 * attribute and an inline script injected at run time are still blocked.
 */
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser, visit, type Browser, type CspViolation } from './support/browser.js'
import { copyFixtureSite, exerciseFixture, listFrameworkFixtures, serveSite, type FixtureRun } from './support/frameworks.js'

const run = promisify(execFile)
const CLI = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const sveltekit = listFrameworkFixtures().find((f) => f.name === 'sveltekit')!

async function sealedCopy(flags: string[]): Promise<string> {
  const dir = await copyFixtureSite(sveltekit)
  await run(process.execPath, [CLI, dir, '--quiet', ...flags])
  return dir
}

/** Violations of style attributes during the fixture's client-side navigations. */
function attributeViolations(result: FixtureRun): CspViolation[] {
  return result.navigations.flatMap((n) => n.violations).filter((v) => v.effectiveDirective === 'style-src-attr')
}

describe('SvelteKit, sealed with default options: run-time styles', () => {
  let browser: Browser
  const dirs: string[] = []
  let sealed: FixtureRun
  let control: FixtureRun
  let sealedDir: string

  beforeAll(async () => {
    browser = await launchBrowser()
    sealedDir = await sealedCopy([])
    const controlDir = await sealedCopy(['--no-runtime-styles'])
    dirs.push(sealedDir, controlDir)
    for (const [dir, set] of [
      [sealedDir, (r: FixtureRun) => (sealed = r)],
      [controlDir, (r: FixtureRun) => (control = r)],
    ] as const) {
      const server = await serveSite(dir, sveltekit)
      try {
        set(await exerciseFixture(browser, { ...sveltekit, interactions: [], styles: [] }, server))
      } finally {
        await server.close()
      }
    }
  })

  afterAll(async () => {
    await browser?.close()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('the control (--no-runtime-styles) shows the announcer blocked after a client-side navigation', () => {
    expect(control.navigations.every((n) => n.arrived && n.clientSide)).toBe(true)
    expect(attributeViolations(control).length).toBeGreaterThan(0)
  })

  it('with default options no style attribute is blocked on any navigation, and every page and navigation works', () => {
    expect(sealed.navigations.every((n) => n.arrived && n.clientSide)).toBe(true)
    expect(attributeViolations(sealed)).toEqual([])
    for (const step of [...sealed.pages, ...sealed.navigations]) {
      expect(step.pageErrors).toEqual([])
      expect(step.error).toBeNull()
    }
  })

  it("the announcer's style applies after a navigation; an injected style attribute and inline script stay blocked", async () => {
    const server = await serveSite(sealedDir, sveltekit)
    const opened = await visit(browser, server.url('/'))
    try {
      const { page } = opened
      await page.waitForSelector('.counter')
      await page.click("header nav a[href$='/widgets']")
      await page.waitForSelector('.text-column button.toggle')
      // The announcer is visually hidden by its own style attribute: absolute, 1px by 1px.
      await page.waitForSelector('#svelte-announcer')
      const announcer = await page.$eval('#svelte-announcer', (el) => ({ position: getComputedStyle(el).position, width: getComputedStyle(el).width }))
      expect(announcer).toEqual({ position: 'absolute', width: '1px' })
      const attack = await page.evaluate(() => {
        const target = document.querySelector('.text-column h1') as HTMLElement
        target.setAttribute('style', 'color: rgb(1, 2, 3)')
        const script = document.createElement('script')
        script.textContent = 'window.__pwned = true'
        // An inline script runs (or is blocked) as it is inserted.
        document.body.append(script)
        return { color: getComputedStyle(target).color, pwned: (window as unknown as { __pwned?: boolean }).__pwned === true }
      })
      expect(attack.color).not.toBe('rgb(1, 2, 3)')
      expect(attack.pwned).toBe(false)
      // Violation events arrive as tasks: wait for both (the test's hang guard stops a wait that never ends).
      await page.waitForFunction(() => {
        const seen = (window as unknown as { __cspViolations: CspViolation[] }).__cspViolations.map((v) => v.effectiveDirective)
        return seen.includes('style-src-attr') && seen.includes('script-src-elem')
      })
      await opened.collect()
      // The injected attribute is the only style attribute blocked: the announcer's passed.
      expect(opened.violations.filter((v) => v.effectiveDirective === 'style-src-attr')).toHaveLength(1)
    } finally {
      await opened.close()
      await server.close()
    }
  })
})
