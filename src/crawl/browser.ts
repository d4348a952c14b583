import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { ProblemCode } from '../problems.js'

/** A browser or driver the crawl cannot start: said with the fix (exit 2, nothing crawled). */
export class BrowserSetupError extends Error {
  constructor(
    message: string,
    readonly code: Extract<ProblemCode, 'no-browser' | 'no-driver'>,
  ) {
    super(message)
  }
}

export const DRIVER_INSTALL = 'npm install --save-dev playwright-core'

/** Where Chrome, Chromium and Edge are installed by default, in the order tried. */
export function browserCandidates(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string[] {
  const fromEnv = [env.CHROME_PATH, env.CSP_SEAL_BROWSER].filter((path): path is string => Boolean(path))
  if (platform === 'darwin') {
    return [
      ...fromEnv,
      ...['Google Chrome.app/Contents/MacOS/Google Chrome', 'Chromium.app/Contents/MacOS/Chromium', 'Microsoft Edge.app/Contents/MacOS/Microsoft Edge'].flatMap(
        (app) => [join('/Applications', app), ...(env.HOME ? [join(env.HOME, 'Applications', app)] : [])],
      ),
    ]
  }
  if (platform === 'win32') {
    const roots = [env.PROGRAMFILES, env['PROGRAMFILES(X86)'], env.LOCALAPPDATA].filter((root): root is string => Boolean(root))
    return [
      ...fromEnv,
      ...roots.flatMap((root) => [
        join(root, 'Google', 'Chrome', 'Application', 'chrome.exe'),
        join(root, 'Microsoft', 'Edge', 'Application', 'msedge.exe'),
        join(root, 'Chromium', 'Application', 'chrome.exe'),
      ]),
    ]
  }
  return [
    ...fromEnv,
    ...['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'microsoft-edge', 'microsoft-edge-stable'].map((name) =>
      join('/usr/bin', name),
    ),
    '/snap/bin/chromium',
  ]
}

/** The browser to drive: `--browser PATH` when given (it must exist), else the first installed one found. */
export function findBrowser(given: string | undefined, candidates = browserCandidates()): string {
  if (given !== undefined) {
    if (!existsSync(given))
      throw new BrowserSetupError(`--browser ${given} does not exist; give the path of a Chrome, Chromium or Edge executable`, 'no-browser')
    return given
  }
  const found = candidates.find((path) => existsSync(path))
  if (found) return found
  throw new BrowserSetupError(
    `no Chrome, Chromium or Edge found (looked in ${candidates.join(', ')}); install one (e.g. apt-get install chromium) or give its path with --browser PATH or the CHROME_PATH environment variable`,
    'no-browser',
  )
}

type Playwright = typeof import('playwright-core')

/** playwright-core, an optional peer dependency: loaded only by `csp-seal crawl`. */
export async function loadDriver(load: () => Promise<Playwright> = () => import('playwright-core')): Promise<Playwright> {
  try {
    return await load()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new BrowserSetupError(
        `csp-seal crawl drives the browser with playwright-core, which is not installed; install it with: ${DRIVER_INSTALL} (it uses your installed browser, and downloads none)`,
        'no-driver',
      )
    }
    throw error
  }
}
