/** Debian's Chromium through playwright-core, launched as every browser test here launches it (see ../browser.ts). */
import { installViolationRecorder, launchBrowser } from '../browser.js'
import { recordedViolations, type Engine, type PageFunction, type Tab } from './engine.js'

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
          evaluate: <A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A) =>
            page.evaluate(`(${fn.toString()})(...${JSON.stringify(args)})`) as Promise<R>,
          async goto(to) {
            await page.goto(to, { waitUntil: 'load' })
          },
          async events() {
            return (await Promise.all(page.frames().map((frame) => frame.evaluate(recordedViolations).catch(() => [])))).flat() // a frame may have gone away
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
