import { stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import pc from 'picocolors'
import { resolveConfig, type CspSealConfig } from '../config.js'
import { serializePolicy } from '../csp/policy.js'
import { manifestPath } from '../server/manifest.js'
import { writeNginxNonceTemplates } from '../server/nginx.js'
import { createMiddleware } from '../server/node.js'

export const DEFAULT_PORT = 4173
const HOST = '127.0.0.1'

interface Io {
  out: (text: string) => void
  err: (text: string) => void
  cwd: string
}

interface ServerFlags {
  config?: string
  port?: string | number
  nonce?: boolean
  out?: string
  fallback?: string | boolean
}

/** Loads the user's config (csp-seal.config.* or --config), as the main command does. */
export type ConfigLoader = (flags: { config?: string }) => Promise<CspSealConfig>

export interface ServerCommands {
  handles(name: string | undefined): boolean
  /** For a usage error of the main command: a pointer to `serve` when the flags given belong to it. */
  hint(argv: readonly string[]): string | undefined
  run(name: string, parsed: { args: readonly string[]; options: Record<string, unknown> }, io: Io, loadConfig: ConfigLoader): Promise<number>
}

/** Options that only `serve` takes. */
const SERVE_FLAGS = new Set(['--nonce', '--port', '--fallback'])

/** Registers `serve` and `nginx-nonce` on the CLI; main() hands matched commands to `run`. */
export function registerServerCommands(cli: CAC): ServerCommands {
  cli
    .command('serve [dir]', 'Serve a sealed folder on 127.0.0.1 with the csp-seal runtime, as in production (default: dist)')
    .option('--port <port>', `Port (default ${DEFAULT_PORT}; 0 picks a free one)`)
    .option('--nonce', "Add a fresh nonce to every page response (default: the config's nonce, else off)")
    .option(
      '--fallback <page>',
      'Page served for client-side routes (URLs without a file extension that match no file), e.g. index.html (default: 200.html if the site has it)',
    )
    .option('--config <file>', 'Config file (default: csp-seal.config.* in the current folder)')
  cli
    .command('nginx-nonce [dir]', 'Write nginx nonce-mode templates and their include into a folder outside the web root')
    .option('--out <folder>', 'Server-only folder for the templates and the include (required; never inside the site)')
    .option('--config <file>', 'Config file (default: csp-seal.config.* in the current folder)')
  return {
    handles: (name) => name === 'serve' || name === 'nginx-nonce',
    hint(argv) {
      const flags = argv.filter((arg) => SERVE_FLAGS.has(arg.split('=')[0]!))
      if (flags.length === 0 || argv[0] === 'serve' || argv[0] === 'nginx-nonce') return undefined
      const dir = argv.find((arg) => !arg.startsWith('-')) ?? 'dist'
      return `${flags.join(', ')} ${flags.length === 1 ? 'is an option' : 'are options'} of csp-seal serve: seal the folder with \`csp-seal ${dir}\`, then serve it with \`csp-seal serve ${dir} ${flags.join(' ')}\` (nonces are added per response by the server, never written into files)\n`
    },
    async run(name, parsed, io, loadConfig) {
      const flags = parsed.options as ServerFlags
      const dir = resolve(io.cwd, parsed.args[0] ?? 'dist')
      try {
        const config = resolveConfig(await loadConfig(flags))
        if (config.manifest === false) throw new CommandError('the config sets manifest: false, but the server needs csp-seal.json', 1)
        if (name === 'nginx-nonce') return await nginxNonce(dir, flags, config.manifest, io)
        const port = parsePort(flags.port)
        if (flags.fallback === true) throw new CommandError('--fallback needs a page, e.g. --fallback index.html', 2)
        const server = await startServe({
          root: dir,
          port,
          nonce: flags.nonce === true || config.nonce,
          manifest: config.manifest,
          fallback: flags.fallback || undefined,
          policy: serializePolicy(config.policy),
          io,
        })
        await untilSignal()
        await server.close()
        return 0
      } catch (error) {
        const code = error instanceof CommandError ? error.code : 1
        io.err(`${pc.red('csp-seal:')} ${(error as Error).message}\n`)
        return code
      }
    },
  }
}

class CommandError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message)
  }
}

function parsePort(value: string | number | undefined): number {
  if (value === undefined) return DEFAULT_PORT
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CommandError(`--port must be a number from 0 to 65535, not ${JSON.stringify(value)}`, 2)
  return port
}

export interface ServeOptions {
  root: string
  port?: number
  nonce?: boolean
  manifest?: string
  /** The SPA fallback page (site-relative). */
  fallback?: string
  /** The policy of pages the manifest does not list. */
  policy?: string
  io?: Pick<Io, 'out' | 'err'>
}

export interface RunningServer {
  /** `http://127.0.0.1:<port>/` plus the base path the site is built for. */
  url: string
  server: Server
  close(): Promise<void>
}

/**
 * `csp-seal serve` without the signal handling: starts the server and prints where it listens. It listens
 * before reading anything but the manifest's presence: the manifest is parsed right after (and pages are
 * read per request), so a site of any size is served within a fraction of a second.
 */
export async function startServe(options: ServeOptions): Promise<RunningServer> {
  const io = options.io ?? { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) }
  const manifest = manifestPath(resolve(options.root), options.manifest)
  if (
    !(await stat(manifest).then(
      (info) => info.isFile(),
      () => false,
    ))
  )
    throw new CommandError(`${manifest} does not exist: seal the site first (npx csp-seal ${options.root})`, 1)
  const nonce = options.nonce ?? false
  const handle = createMiddleware({
    root: options.root,
    nonce,
    manifest: options.manifest,
    fallback: options.fallback,
    policy: options.policy,
    log: (message) => io.err(`${pc.yellow(message)}\n`),
  })
  const server = createServer((req, res) => handle(req, res))
  await new Promise<void>((done, fail) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      fail(error.code === 'EADDRINUSE' ? new CommandError(`port ${options.port} on ${HOST} is in use; choose another with --port`, 1) : error)
    })
    server.listen(options.port ?? DEFAULT_PORT, HOST, () => done())
  })
  const close = () =>
    new Promise<void>((done) => {
      server.close(() => done())
      server.closeAllConnections()
    })
  let site
  try {
    site = await handle.warm()
  } catch (error) {
    await close()
    throw new CommandError((error as Error).message, 1)
  }
  const { port } = server.address() as AddressInfo
  const url = `http://${HOST}:${port}${encodeURI(site.base)}`
  const fallbacks = site.fallbacks.map(([prefix, page]) => `${page} for ${site.base}${prefix}…`).join(', ')
  io.out(
    [
      `${pc.green('csp-seal')} serving ${options.root} (${site.pages} page${site.pages === 1 ? '' : 's'})`,
      `  ${pc.bold(url)}`,
      `  nonces    ${nonce ? 'on: a fresh nonce in every page response' : 'off: hash-only pages (--nonce turns them on)'}`,
      `  fallback  ${fallbacks || 'none: unknown URLs are 404 (--fallback index.html serves client-side routes)'}`,
      '  press Ctrl+C to stop',
      '',
    ].join('\n'),
  )
  return { url, server, close }
}

function untilSignal(): Promise<void> {
  return new Promise((done) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      done()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

async function nginxNonce(dir: string, flags: ServerFlags, manifest: string, io: Io): Promise<number> {
  if (!flags.out) throw new CommandError('nginx-nonce needs --out <folder>: a server-only folder outside the web root', 2)
  const result = await writeNginxNonceTemplates({ root: dir, out: resolve(io.cwd, flags.out), manifest })
  io.out(
    [
      `${pc.green('csp-seal')} wrote nginx nonce templates for ${result.pages.length} page${result.pages.length === 1 ? '' : 's'}`,
      `  templates  ${result.templates}`,
      `  include    ${result.include}`,
      `  in your server { } block (instead of csp-seal.nginx.conf):  include ${result.include};`,
      '  then reload nginx (nginx -s reload); run this again after every build',
      '',
    ].join('\n'),
  )
  return 0
}
