import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { cac } from 'cac'
import pc from 'picocolors'
import {
  HEADER_FORMATS,
  overRecorded,
  POLICY_SCOPES,
  recordedOptions,
  resolveConfig,
  type CspSealConfig,
  type HeaderFormat,
  type ResolvedConfig,
} from '../config.js'
import { HASH_ALGORITHMS, type HashAlgorithm } from '../csp/hash.js'
import { didYouMean } from '../did-you-mean.js'
import { HEADER_FILES, writtenByCspSeal } from '../output/headers.js'
import { SealError } from '../problems.js'
import type { SiteResult } from '../site/site.js'
import { CONFIG_FILES, findConfigFile, loadConfigFile } from './config-file.js'
import { OutFolderError, sealInto } from './out.js'
import { failureText, policyOrigin, progressText, reportOf, summary, type Mode, type PolicyOrigin } from './report.js'
import { registerCrawlCommand } from './crawl.js'
import { registerServerCommands } from './serve.js'

interface Flags {
  config?: string
  policy?: string
  policyBase?: string
  hash?: string
  base?: string
  headers?: string
  exclude?: string | string[]
  out?: string
  check?: boolean
  dryRun?: boolean
  report?: string
  json?: boolean
  quiet?: boolean
  meta?: boolean
  runtimeStyles?: boolean
  remote?: string
  lockFile?: string
  updateLock?: boolean
  remoteErrors?: string
  remoteAllow?: string
  trustOrigin?: string | string[]
  scope?: string
}

/** Usage errors exit with 2; everything else that fails exits with 1. */
class UsageError extends Error {}

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  isTTY: boolean
  cwd: string
}

const defaultIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stderr.isTTY),
  cwd: process.cwd(),
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const cli = cac('csp-seal')
  const command = cli
    .command('[dir]', 'Seal every HTML page in a built site folder (default: dist)')
    .option('--out <folder>', 'Seal a copy into this folder and leave [dir] as it is (an earlier output there is replaced)')
    .option('--config <file>', `Config file (default: ${CONFIG_FILES.join(', ')} in the current folder)`)
    .option('--policy <policy>', "Your policy, e.g. \"img-src 'self' data:\": each directive replaces the default policy's")
    .option('--policy-base <base>', "What --policy is laid over: default (csp-seal's default policy) or none (your policy alone)")
    .option('--hash <algorithm>', `Inline hash algorithm: ${HASH_ALGORITHMS.join(', ')} (default sha256)`)
    .option('--base <path>', 'URL path the site is served under (default /)')
    .option('--headers <formats>', `Header files to write: ${HEADER_FORMATS.join(',')}`)
    .option('--scope <scope>', 'Which pages one policy serves: auto (default: site when the build has a client-side router), page, or site')
    .option('--exclude <glob>', 'Leave pages matching this glob alone (repeat it for more)')
    .option('--no-meta', 'Do not write the policy meta tag (headers and manifest only)')
    .option('--no-runtime-styles', "Do not read the site's scripts for the inline styles they insert at run time")
    .option('--remote <mode>', 'Integrity for CDN files: fetch (default), lock-only (never use the network), off')
    .option('--lock-file <file>', 'Lock file pinning CDN files (default csp-seal.lock.json)')
    .option('--update-lock', 'Accept CDN files that changed since the lock file, and update it')
    .option('--remote-errors <action>', 'A CDN file that cannot be fetched: error (default) or warn')
    .option('--remote-allow <how>', 'Allow CDN scripts by their integrity hash (default) or by origin')
    .option('--trust-origin <origin>', 'Allow this origin whole, without integrity (vendor scripts that change daily; repeat it for more)')
    .option('--check', 'Exit 1 if a page or header file differs from what the last run wrote; write nothing')
    .option('--dry-run', 'Plan and report, write nothing')
    .option('--report <file>', 'Write a JSON report of every page, hash and warning')
    .option('--json', 'Print the JSON report on stdout (the summary goes to stderr)')
    .option('--quiet', 'Print only errors')
  const serverCommands = registerServerCommands(cli)
  const crawlCommand = registerCrawlCommand(cli)
  // cac labels a negated flag "(default: true)", which reads as if --no-meta were on by default.
  cli.help((sections) => sections.map((section) => ({ ...section, body: section.body.replace(/^(\s*--no-\S+.*?) \(default: true\)$/gm, '$1') })))
  cli.version(await packageVersion())

  let parsed: ReturnType<typeof cli.parse>
  try {
    parsed = cli.parse(['node', 'csp-seal', ...argv], { run: false })
    cli.matchedCommand?.checkUnknownOptions()
    cli.matchedCommand?.checkOptionValue()
  } catch (error) {
    const message = withSuggestion((error as Error).message, cli.matchedCommand ?? command)
    if (argv.includes('--json')) io.out(`${JSON.stringify(reportOf(undefined, 'write', undefined, [{ code: 'usage', message }]), null, 2)}\n`)
    io.err(`${pc.red('csp-seal:')} ${message}\n${serverCommands.hint(argv) ?? ''}`)
    return 2
  }
  if (parsed.options.help || parsed.options.version) return 0
  if (crawlCommand.handles(cli.matchedCommandName)) return crawlCommand.run(parsed, io, (flags) => loadConfig(flags, io.cwd))
  if (serverCommands.handles(cli.matchedCommandName)) return serverCommands.run(cli.matchedCommandName!, parsed, io, (flags) => loadConfig(flags, io.cwd))
  const flags = parsed.options as Flags
  const dir = resolve(io.cwd, parsed.args[0] ?? 'dist')
  const mode: Mode = flags.check ? 'check' : flags.dryRun ? 'dry-run' : 'write'
  // With --json, stdout carries the report and nothing else.
  const say = flags.json ? io.err : io.out
  let origin: PolicyOrigin | undefined
  try {
    if (flags.check && flags.dryRun) throw new UsageError('--check and --dry-run cannot be used together')
    if (flags.out !== undefined && flags.check) throw new UsageError(`--check reads a sealed folder: run csp-seal ${flags.out} --check`)
    const given = await loadConfig(flags, io.cwd)
    const { config, recorded, checkedFiles } =
      mode === 'check' ? await checkConfig(dir, given) : { config: resolveConfig(given), recorded: undefined, checkedFiles: [] }
    origin = policyOrigin(config, recorded)
    const started = performance.now()
    const progress = io.isTTY && !flags.quiet ? progressLine(io) : undefined
    const options = { mode, onProgress: progress, cwd: io.cwd, keepManifest: Boolean(flags.report || flags.json) }
    let result: SiteResult
    try {
      // Loaded here, not at the top: `csp-seal serve` starts without the sealing engine.
      if (flags.out !== undefined && mode === 'write') result = await sealInto(dir, resolve(io.cwd, flags.out), config, options)
      else result = await (await import('../site/site.js')).sealDirectory(dir, config, options)
    } finally {
      progress?.(0, 0)
    }
    const report = reportOf(result, mode, origin)
    if (flags.report) await writeFile(resolve(io.cwd, flags.report), `${JSON.stringify(report, null, 2)}\n`)
    if (flags.json) io.out(`${JSON.stringify(report, null, 2)}\n`)
    if (!flags.quiet) say(summary({ result, mode, ms: performance.now() - started, origin, config, checkedFiles }))
    if (mode === 'check' && result.problems.length) {
      io.err(failureText(result.problems, 'csp-seal --check failed'))
      return 1
    }
    return 0
  } catch (error) {
    if (error instanceof UsageError || error instanceof OutFolderError) {
      if (flags.json) io.out(`${JSON.stringify(reportOf(undefined, mode, origin, [{ code: 'usage', message: error.message }]), null, 2)}\n`)
      io.err(`${pc.red('csp-seal:')} ${error.message}\n`)
      return 2
    }
    if (error instanceof SealError) {
      const report = reportOf(undefined, mode, origin, error.problems)
      if (flags.report) await writeFile(resolve(io.cwd, flags.report), `${JSON.stringify(report, null, 2)}\n`).catch(() => undefined)
      if (flags.json) io.out(`${JSON.stringify(report, null, 2)}\n`)
      io.err(failureText(error.problems, 'csp-seal', mode === 'write' ? '; nothing was written' : ''))
      return 1
    }
    // A defect, not bad input: no stack trace for the user, but what to send with a report.
    io.err(
      `${pc.red('csp-seal:')} an unexpected error stopped the run: ${(error as Error).message ?? error}\n  this is a defect in csp-seal: please report it with the command you ran (CSP_SEAL_DEBUG=1 prints the details)\n`,
    )
    if (process.env.CSP_SEAL_DEBUG) io.err(`${(error as Error).stack ?? error}\n`)
    return 1
  }
}

/** The config file's options with the command line's laid over them, validated. */
async function loadConfig(flags: Flags, cwd: string): Promise<CspSealConfig> {
  const file = findConfigFile(cwd, flags.config)
  if (file !== undefined && !existsSync(file)) throw new UsageError(`config file ${flags.config} does not exist`)
  const config: CspSealConfig = file ? await loadConfigFile(file, cwd) : {}
  const overrides = flagOptions(flags)
  const merged: CspSealConfig = { ...config, ...overrides }
  if (config.remote || overrides.remote) merged.remote = { ...config.remote, ...overrides.remote }
  return merged
}

/** The options the command line sets, and only those. */
function flagOptions(flags: Flags): CspSealConfig {
  const options: CspSealConfig = {}
  const choose = <T extends string>(flag: string | undefined, name: string, allowed: readonly T[]): T | undefined => {
    if (flag === undefined) return undefined
    if (!allowed.includes(flag as T))
      throw new UsageError(`${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(flag)}${didYouMean(String(flag), allowed)}`)
    return flag as T
  }
  if (flags.policy !== undefined) options.policy = String(flags.policy)
  const policyBase = choose(flags.policyBase, '--policy-base', ['default', 'none'] as const)
  if (policyBase) options.policyBase = policyBase
  const hash = choose(flags.hash, '--hash', HASH_ALGORITHMS)
  if (hash) options.hashAlgorithm = hash as HashAlgorithm
  if (flags.base !== undefined) options.base = String(flags.base)
  const scope = choose(flags.scope, '--scope', POLICY_SCOPES)
  if (scope) options.scope = scope
  if (flags.headers !== undefined) {
    const formats = String(flags.headers)
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
    const unknown = formats.filter((f) => !HEADER_FORMATS.includes(f as HeaderFormat))
    if (unknown.length)
      throw new UsageError(`unknown --headers format ${unknown.join(', ')}${didYouMean(unknown[0]!, HEADER_FORMATS)}; use ${HEADER_FORMATS.join(',')}`)
    options.headers = formats as HeaderFormat[]
  }
  if (flags.exclude !== undefined) options.exclude = list(flags.exclude)
  if (flags.meta === false) options.meta = false
  if (flags.runtimeStyles === false) options.runtimeStyles = false
  const remote: NonNullable<CspSealConfig['remote']> = {}
  const remoteMode = choose(flags.remote, '--remote', ['fetch', 'lock-only', 'off'] as const)
  if (remoteMode) remote.mode = remoteMode
  const onFetchError = choose(flags.remoteErrors, '--remote-errors', ['error', 'warn'] as const)
  if (onFetchError) remote.onFetchError = onFetchError
  const allow = choose(flags.remoteAllow, '--remote-allow', ['integrity', 'origin'] as const)
  if (allow) remote.allow = allow
  if (flags.lockFile !== undefined) remote.lockFile = String(flags.lockFile)
  if (flags.updateLock) remote.updateLock = true
  if (flags.trustOrigin !== undefined)
    remote.trustedOrigins = list(flags.trustOrigin)
      .flatMap((o) => o.split(','))
      .map((o) => o.trim())
      .filter(Boolean)
  if (Object.keys(remote).length) options.remote = remote
  return options
}

/**
 * What `--check` checks against: the options the sealing run recorded in the manifest, with what this command
 * gives laid over them, and every header file csp-seal wrote in the folder (named by the options or not).
 */
async function checkConfig(
  dir: string,
  given: CspSealConfig,
): Promise<{ config: ResolvedConfig; recorded?: { manifest: string; overridden: string[] }; checkedFiles: string[] }> {
  const manifestName = given.manifest ?? 'csp-seal.json'
  let options = given
  let recorded: { manifest: string; overridden: string[] } | undefined
  if (manifestName) {
    const text = await readFile(join(dir, manifestName), 'utf8').catch(() => undefined)
    const saved = text === undefined ? undefined : (safeJson(text) as { options?: CspSealConfig } | undefined)?.options
    if (saved && typeof saved === 'object') {
      options = overRecorded(saved, given)
      // Name only the options whose effect differs from the recorded ones (a config file may restate them).
      const before = recordedOptions(resolveConfig(overRecorded(saved, {}))) as Record<string, unknown>
      const after = recordedOptions(resolveConfig(options)) as Record<string, unknown>
      const overridden = Object.keys(after).filter((key) => JSON.stringify(after[key]) !== JSON.stringify(before[key]))
      recorded = { manifest: manifestName, overridden }
    }
  }
  const headers = new Set(options.headers ?? [])
  for (const format of HEADER_FORMATS) {
    if (headers.has(format)) continue
    const text = await readFile(join(dir, HEADER_FILES[format]), 'utf8').catch(() => undefined)
    if (text !== undefined && writtenByCspSeal(format, text)) headers.add(format)
  }
  const config = resolveConfig({ ...options, headers: [...headers] })
  const checkedFiles = [...(config.manifest ? [config.manifest] : []), ...config.headers.map((format) => HEADER_FILES[format])]
  return { config, recorded, checkedFiles }
}

function progressLine(io: Io): (done: number, total: number) => void {
  const started = performance.now()
  let last = -Infinity
  return (done, total) => {
    if (total === 0) return io.err('\r\x1b[K')
    const now = performance.now()
    if (now - last < 100 && done !== total) return
    last = now
    io.err(`\r\x1b[K${pc.dim(progressText(done, total, now - started))}`)
  }
}

/** cac's message for an unknown flag, with the flag it most likely meant. */
function withSuggestion(message: string, command: { options: Array<{ rawName: string }> }): string {
  const unknown = /Unknown option `(--?[^`]+)`/.exec(message)
  if (!unknown) return message
  const flags = ['--help', '--version', ...command.options.flatMap((o) => o.rawName.match(/--[\w-]+/g) ?? [])]
  return `unknown option ${unknown[1]}${didYouMean(unknown[1]!, flags, (f) => f)}; csp-seal --help lists them all`
}

function list(value: string | string[]): string[] {
  return (Array.isArray(value) ? value : [value]).map(String)
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The version in csp-seal's package.json (found upwards from this file, in source or built form). */
async function packageVersion(): Promise<string> {
  for (let url = new URL('./package.json', import.meta.url); ; url = new URL('../package.json', url)) {
    const pkg = (await readFile(url, 'utf8').then(JSON.parse, () => undefined)) as { name?: string; version: string } | undefined
    if (pkg?.name === 'csp-seal') return pkg.version
    if (url.pathname === '/package.json') return '0.0.0'
  }
}
