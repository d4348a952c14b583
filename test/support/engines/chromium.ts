/** Debian's Chromium through playwright-core, launched as every browser test here launches it (see ../browser.ts). */
import { installViolationRecorder, launchBrowser, withoutHttpCache } from '../browser.js'
import { oneTabAtATime, recordedViolations, type Engine, type PageFunction } from './engine.js'

export async function launchChromium(): Promise<Engine> {
  const browser = await launchBrowser()
  return {
    name: 'chromium',
    version: `Chromium ${browser.version()}`,
    open: oneTabAtATime('Chromium', async () => {
      const context = await browser.newContext()
      // No binding: the events stay in the page (window.__cspViolations), where events() reads them.
      await context.addInitScript(installViolationRecorder, '')
      const page = await context.newPage()
      await withoutHttpCache(context, page)
      const messages: string[] = []
      page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`))
      page.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`))
      return {
        tab: {
          evaluate: <A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A) =>
            page.evaluate(`(${fn.toString()})(...${JSON.stringify(args)})`) as Promise<R>,
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
          await context.clearCookies()
          messages.length = 0
        },
      }
    }),
    close: () => browser.close(),
  }
}
