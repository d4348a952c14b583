/**
 * Debian's Firefox ESR through puppeteer-core over WebDriver BiDi (Firefox's own remote agent: no geckodriver, no
 * downloaded browser). One tab in a user context of its own serves every visit in turn (see Engine.open).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import puppeteer from 'puppeteer-core'
import { installViolationRecorder } from '../browser.js'
import { oneTabAtATime, recordedViolations, type Engine, type PageFunction } from './engine.js'

export const FIREFOX_PATH = '/usr/bin/firefox-esr'

/**
 * Preferences on top of puppeteer's own for automation: nothing reaches for the network on its own, and no spare
 * content processes are started ahead of need (about 1.7 of the 9 CPU-seconds a launch cost; pages load the same).
 */
const PREFS = {
  'app.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'dom.ipc.processPrelaunch.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/',
  'toolkit.telemetry.enabled': false,
}

export async function launchFirefox(): Promise<Engine> {
  if (!existsSync(FIREFOX_PATH))
    throw new Error(`${FIREFOX_PATH} not found: install Debian's Firefox ESR (npm run setup installs it). The tests never download a browser.`)
  // "Mozilla Firefox 153.8.0esr": the release channel is part of what the tests cover.
  const version = execFileSync(FIREFOX_PATH, ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^Mozilla\s+/, '')
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    extraPrefsFirefox: PREFS,
    // No network events: the tests read requests and responses at the reporting proxy, and Firefox's remote agent
    // describing every request to the driver took a fifth of the CPU of a page load.
    networkEnabled: false,
  })
  return {
    name: 'firefox',
    version,
    open: oneTabAtATime('Firefox', async () => {
      const context = await browser.createBrowserContext()
      const page = await context.newPage()
      await page.evaluateOnNewDocument(installViolationRecorder, '')
      await page.setCacheEnabled(false)
      const messages: string[] = []
      page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`))
      // Firefox sends its CSP and integrity messages as errors of the page.
      page.on('pageerror', (error) => messages.push(`pageerror: ${error instanceof Error ? error.message : String(error)}`))
      return {
        tab: {
          evaluate: <A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A) =>
            page.evaluate(fn as (...params: unknown[]) => R | Promise<R>, ...args) as Promise<R>,
          async goto(to) {
            await page.goto(to, { waitUntil: 'load' })
          },
          async events() {
            return (await Promise.all(page.frames().map((frame) => frame.evaluate(recordedViolations).catch(() => [])))).flat() // a frame may have gone away
          },
          messages: () => [...messages],
        },
        async end() {
          await page.goto('about:blank')
          await context.deleteCookie(...(await context.cookies()))
          messages.length = 0
        },
      }
    }),
    close: () => browser.close(),
  }
}
