/**
 * How the tests launch Chromium (test/support/browser.ts): with every feature playwright-core turns off still off,
 * although our own `--disable-features` replaces its list, and without the address bar's popups that headless
 * Chromium otherwise builds for every window.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { CHROMIUM_PATH, launchBrowser, PLAYWRIGHT_DISABLED_FEATURES } from './support/browser.js'

/** The command line of each browser process this process has started (playwright-core starts Chromium itself), by pid. */
function startedBrowsers(): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
      if (parent === process.pid && argv[0]?.includes('chromium')) found.set(pid, argv)
    } catch {
      // The process ended while it was being read.
    }
  }
  return found
}

/** Launches a browser, and reads the command line it was started with. */
async function launchAndRead(launch: () => Promise<Browser>): Promise<{ browser: Browser; argv: string[] }> {
  const before = startedBrowsers()
  const browser = await launch()
  const started = [...startedBrowsers()].filter(([pid]) => !before.has(pid))
  expect(started.length, 'one browser process started').toBe(1)
  return { browser, argv: started[0]![1] }
}

/** The features the browser runs with turned off: the last `--disable-features` wins, as in Chromium. */
function disabledFeatures(argv: string[]): string[] {
  return (
    argv
      .filter((arg) => arg.startsWith('--disable-features='))
      .at(-1)
      ?.slice('--disable-features='.length)
      .split(',') ?? []
  )
}

/** The browser's own pages (its UI's WebUI) that a window of a new context comes with. */
async function windowUiPages(browser: Browser): Promise<string[]> {
  const context = await browser.newContext()
  try {
    await context.newPage()
    const cdp = await browser.newBrowserCDPSession()
    const { targetInfos } = await cdp.send('Target.getTargets')
    return targetInfos.filter((t) => t.type !== 'page').map((t) => t.url)
  } finally {
    await context.close()
  }
}

describe('Chromium as the tests launch it', () => {
  it("keeps off every feature playwright-core turns off, and builds no address bar popup for a window (playwright-core's own launch does)", async () => {
    const plain = await launchAndRead(() => chromium.launch({ executablePath: CHROMIUM_PATH, headless: true }))
    const playwrightOff = disabledFeatures(plain.argv)
    let plainUi: string[]
    try {
      plainUi = await windowUiPages(plain.browser)
    } finally {
      await plain.browser.close()
    }
    // What the launch below is compared with: playwright-core's own list, and the popups a window gets without ours.
    expect(playwrightOff.length).toBeGreaterThan(0)
    expect(plainUi.filter((url) => url.startsWith('chrome://omnibox-popup')).length).toBeGreaterThan(0)

    const ours = await launchAndRead(launchBrowser)
    try {
      const off = disabledFeatures(ours.argv)
      // The browser runs with playwright-core's features off (ours is the list it reads), and the list repeated is
      // exactly playwright-core's: an upgrade that changes it fails here (update PLAYWRIGHT_DISABLED_FEATURES).
      expect(playwrightOff.filter((feature) => !off.includes(feature))).toEqual([])
      expect([...PLAYWRIGHT_DISABLED_FEATURES].sort()).toEqual([...playwrightOff].sort())
      expect(await windowUiPages(ours.browser)).toEqual([])
    } finally {
      await ours.browser.close()
    }
  })
})
