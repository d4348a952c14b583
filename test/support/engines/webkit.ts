/**
 * WebKitGTK from Debian: `WebKitWebDriver` (webkit2gtk-driver) drives WebKitGTK's MiniBrowser, in a display of its
 * own (an Xvfb started here, on a display number Xvfb picks itself). WebDriver classic is plain JSON over HTTP, so
 * the client is `fetch`.
 *
 * WebDriver classic cannot run a script before the page's own, so this driver has no `events()`: violations come
 * from the reporting proxy, as in every engine. One window serves every tab in turn (a MiniBrowser start costs
 * seconds); a tab is closed by deleting its cookies and leaving its page for about:blank.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { oneTabAtATime, type Engine, type PageFunction } from './engine.js'

export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver'
/** WebKitGTK's MiniBrowser, from libwebkit2gtk-4.1-0 (which webkit2gtk-driver depends on), in the multiarch folder. */
export const MINIBROWSER = findMiniBrowser()
export const XVFB = '/usr/bin/Xvfb'
/** Hang guards: long enough for a busy machine, never what decides a result. */
const START_GUARD_MS = 60_000

export async function launchWebKit(): Promise<Engine> {
  for (const [file, pkg] of [
    [WEBKIT_DRIVER, 'webkit2gtk-driver'],
    [MINIBROWSER ?? '/usr/lib/<arch>/webkit2gtk-4.1/MiniBrowser', 'webkit2gtk-driver'],
    [XVFB, 'xvfb'],
  ] as const) {
    if (!existsSync(file)) throw new Error(`${file} not found: install it from Debian (npm run setup installs ${pkg}). The tests never download a browser.`)
  }
  const children: ChildProcess[] = []
  const stopAll = () => {
    for (const child of children.reverse()) if (child.exitCode === null) child.kill('SIGKILL')
  }
  try {
    const { child: xvfb, display } = await startXvfb()
    children.push(xvfb)
    const port = await freePort()
    const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], { env: { ...process.env, DISPLAY: `:${display}` }, stdio: ['ignore', 'ignore', 'pipe'] })
    children.push(driver)
    const log = tail(driver)
    const webdriver = new WebDriverClient(`http://127.0.0.1:${port}`, () => log.text())
    await webdriver.waitUntilReady(driver)
    const session = await webdriver.newSession({ 'webkitgtk:browserOptions': { binary: MINIBROWSER!, args: ['--automation'] } })
    await session.command('POST', '/timeouts', { script: START_GUARD_MS, pageLoad: START_GUARD_MS })
    const version = `WebKitGTK ${String(session.capabilities.browserVersion)}`
    return {
      name: 'webkit',
      version,
      open: oneTabAtATime('WebKit', async () => ({
        tab: {
          async evaluate<A extends unknown[], R>(fn: PageFunction<A, R>, ...args: A): Promise<R> {
            // execute/async: the last argument is the callback; a rejected promise comes back as { error }.
            const script = `const done = arguments[arguments.length - 1];
Promise.resolve().then(() => (${fn.toString()}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
  .then((value) => done({ value: value === undefined ? null : value }), (error) => done({ error: String(error && error.stack || error) }));`
            const result = (await session.command('POST', '/execute/async', { script, args })) as { value?: R; error?: string }
            if (result.error !== undefined) throw new Error(`in WebKit's page: ${result.error}`)
            return result.value as R
          },
          goto: async (to) => {
            await session.command('POST', '/url', { url: to })
          },
        },
        async end() {
          // Every cookie the page can see: the sites here are all on 127.0.0.1.
          await session.command('DELETE', '/cookie')
          await session.command('POST', '/url', { url: 'about:blank' })
        },
      })),
      async close() {
        try {
          await session.delete()
        } finally {
          stopAll()
        }
      },
    }
  } catch (error) {
    stopAll()
    throw error
  }
}

function findMiniBrowser(): string | undefined {
  try {
    for (const dir of readdirSync('/usr/lib')) {
      const file = `/usr/lib/${dir}/webkit2gtk-4.1/MiniBrowser`
      if (existsSync(file)) return file
    }
  } catch {
    /* no /usr/lib: reported at launch */
  }
  return undefined
}

/** Xvfb on a display it picks itself (`-displayfd`), so parallel runs never race for a display number. */
async function startXvfb(): Promise<{ child: ChildProcess; display: number }> {
  const child = spawn(XVFB, ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] })
  const log = tail(child)
  const display = await new Promise<number>((resolve, reject) => {
    let text = ''
    const guard = setTimeout(() => reject(new Error(`Xvfb did not report its display within ${START_GUARD_MS / 1000} s:\n${log.text()}`)), START_GUARD_MS)
    child.stdio[3]!.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes('\n')) {
        clearTimeout(guard)
        resolve(Number(text.trim()))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(guard)
      reject(new Error(`Xvfb exited with ${code}:\n${log.text()}`))
    })
  })
  return { child, display }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** The last few kilobytes a child wrote to stderr, for error messages. */
function tail(child: ChildProcess): { text(): string } {
  let text = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-4000)
  })
  return { text: () => text }
}

interface Session {
  capabilities: Record<string, unknown>
  command(method: string, path: string, body?: unknown): Promise<unknown>
  delete(): Promise<void>
}

/** The few WebDriver classic endpoints the tests use (W3C WebDriver, JSON over HTTP). */
class WebDriverClient {
  constructor(
    private readonly base: string,
    private readonly log: () => string,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(this.base + path, {
      method,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const json = (await response.json()) as { value?: { error?: string; message?: string } & Record<string, unknown> }
    if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error ?? response.status}: ${json.value?.message ?? ''}\n${this.log()}`)
    return json.value
  }

  /** Polls /status until the driver answers (it takes a moment to listen). */
  async waitUntilReady(driver: ChildProcess): Promise<void> {
    const started = Date.now()
    for (;;) {
      if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${driver.exitCode}:\n${this.log()}`)
      try {
        await this.request('GET', '/status')
        return
      } catch (error) {
        if (Date.now() - started > START_GUARD_MS)
          throw new Error(`WebKitWebDriver did not answer within ${START_GUARD_MS / 1000} s: ${String(error)}`, { cause: error })
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }

  async newSession(options: Record<string, unknown>): Promise<Session> {
    const value = (await this.request('POST', '/session', { capabilities: { alwaysMatch: options } })) as {
      sessionId: string
      capabilities: Record<string, unknown>
    }
    const prefix = `/session/${value.sessionId}`
    return {
      capabilities: value.capabilities,
      command: (method, path, body) => this.request(method, prefix + path, body ?? (method === 'POST' ? {} : undefined)),
      delete: async () => {
        await this.request('DELETE', prefix)
      },
    }
  }
}
