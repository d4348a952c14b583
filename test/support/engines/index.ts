/**
 * The browser tier: run a scenario in Chromium, Firefox and WebKit.
 *
 *   forEachEngine((engine) => {
 *     it('works', async () => {
 *       const v = await visit(engine(), proxy, '/index.html')   // see ./visit.ts
 *       …
 *     })
 *   })
 *
 * `forEachEngine` declares one `describe` per engine; each launches its browser once (`beforeAll`) and closes it
 * (`afterAll`), so inside a test file the engines run one after another and never more than one browser is up.
 * `CSP_SEAL_ENGINES=chromium,webkit npm test` runs a subset (all three by default, and in CI).
 */
import { afterAll, beforeAll, describe } from 'vitest'
import { launchChromium } from './chromium.js'
import type { Engine, EngineName } from './engine.js'
import { launchFirefox } from './firefox.js'
import { launchWebKit } from './webkit.js'

export type { Engine, EngineName, Tab } from './engine.js'
export { documentWentAway } from './engine.js'

export const ENGINE_NAMES: readonly EngineName[] = ['chromium', 'firefox', 'webkit']

/** How the tests and the support table name the engines (versions come from the running browsers). */
export const ENGINE_LABELS: Record<EngineName, string> = { chromium: 'Chromium', firefox: 'Firefox', webkit: 'WebKit' }

const LAUNCHERS: Record<EngineName, () => Promise<Engine>> = { chromium: launchChromium, firefox: launchFirefox, webkit: launchWebKit }

/** The engines this run covers: all three, or those named in CSP_SEAL_ENGINES. */
export function selectedEngines(): EngineName[] {
  const wanted = process.env.CSP_SEAL_ENGINES?.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
  if (!wanted?.length) return [...ENGINE_NAMES]
  const unknown = wanted.filter((name) => !ENGINE_NAMES.includes(name as EngineName))
  if (unknown.length) throw new Error(`CSP_SEAL_ENGINES: unknown engine ${unknown.join(', ')} (use ${ENGINE_NAMES.join(', ')})`)
  return ENGINE_NAMES.filter((name) => wanted.includes(name))
}

export function launchEngine(name: EngineName): Promise<Engine> {
  return LAUNCHERS[name]()
}

/**
 * Declares `body` once per selected engine (of `among`, where a file leaves an engine to another test), inside
 * `describe('in <Engine>')`. `engine()` gives the running engine (call it inside hooks and tests, not while declaring).
 */
export function forEachEngine(body: (engine: () => Engine, name: EngineName) => void, among: readonly EngineName[] = ENGINE_NAMES): void {
  for (const name of selectedEngines().filter((selected) => among.includes(selected))) {
    describe(`in ${ENGINE_LABELS[name]}`, () => {
      let running: Engine | undefined
      beforeAll(async () => {
        running = await launchEngine(name)
      })
      afterAll(async () => {
        await running?.close()
      })
      body(() => {
        if (!running) throw new Error(`${ENGINE_LABELS[name]} is not running (it failed to launch, or engine() was called while declaring tests)`)
        return running
      }, name)
    })
  }
}
