/** Debian's Chromium through playwright-core, launched as every browser test here launches it (see ../browser.ts). */
import type { Frame } from 'playwright-core'
import { installViolationRecorder, launchBrowser, type CspViolation } from '../browser.js'
import type { Engine, PageFunction, Tab } from './engine.js'

export async function launchChromium(): Promise<Engine> {
  const browser = await launchBrowser()
  return {
    name: 'chromium',
    version: `Chromium ${browser.version()}`,
    async open(url) {
      const context = await browser.newContext()
      try {
        // No binding: the events stay in the page (window.__cspViolations), where events() reads them.
        await context.addInitScript(installViolationRecorder, '')
        const page = await context.newPage()
        const messages: string[] = []
        page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`))
        page.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`))
        const tab: Tab = {
          evaluate: <A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A) => page.evaluate(`(${fn.toString()})(...${JSON.stringify(args)})`) as Promise<R>,
          async goto(to) {
            await page.goto(to, { waitUntil: 'load' })
          },
          async events() {
            return (await Promise.all(page.frames().map(recorded))).flat()
          },
          messages: () => [...messages],
          close: () => context.close(),
        }
        await tab.goto(url)
        return tab
      } catch (error) {
        await context.close().catch(() => undefined)
        throw error
      }
    },
    close: () => browser.close(),
  }
}

async function recorded(frame: Frame): Promise<CspViolation[]> {
  try {
    return await frame.evaluate(() => {
      const list = (window as unknown as { __cspViolations?: CspViolation[] }).__cspViolations
      return Array.isArray(list) ? (JSON.parse(JSON.stringify(list)) as CspViolation[]) : []
    })
  } catch {
    return [] // a frame that went away
  }
}
