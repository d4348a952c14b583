import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { cac } from 'cac'
import pc from 'picocolors'
import { HEADER_FORMATS, resolveConfig, type CspSealConfig, type HeaderFormat } from '../config.js'
import { HASH_ALGORITHMS, type HashAlgorithm } from '../csp/hash.js'
import { formatProblem, SealError, type Problem } from '../problems.js'
import type { SiteResult } from '../seal/site.js'
import { registerServerCommands } from './serve.js'

const CONFIG_FILES = ['csp-seal.config.ts', 'csp-seal.config.mjs', 'csp-seal.config.js', 'csp-seal.config.json']

interface Flags {
  config?: string
  policy?: string
  hash?: string
  base?: string
  headers?: string
  check?: boolean
  dryRun?: boolean
  report?: string
  quiet?: boolean
  meta?: boolean
  remote?: string
  lockFile?: string
  updateLock?: boolean
  remoteErrors?: string
  remoteAllow?: string
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
  cli
    .command('[dir]', 'Seal every HTML page in a built site folder (default: dist)')
    .option('--config <file>', `Config file (default: ${CONFIG_FILES.join(', ')} in the current folder)`)
    .option('--policy <policy>', "Your policy, e.g. \"default-src 'self'; img-src 'self' data:\"")
    .option('--hash <algorithm>', `Inline hash algorithm: ${HASH_ALGORITHMS.join(', ')} (default sha256)`)
    .option('--base <path>', 'URL path the site is served under (default /)')
    .option('--headers <formats>', `Header files to write: ${HEADER_FORMATS.join(',')}`)
    .option('--no-meta', 'Do not write the policy meta tag (headers and manifest only)')
    .option('--remote <mode>', 'Integrity for CDN files: fetch (default), lock-only (never use the network), off')
    .option('--lock-file <file>', 'Lock file pinning CDN files (default csp-seal.lock.json)')
    .option('--update-lock', 'Accept CDN files that changed since the lock file, and update it')
    .option('--remote-errors <action>', 'A CDN file that cannot be fetched: error (default) or warn')
    .option('--remote-allow <how>', 'Allow CDN scripts by their integrity hash (default) or by origin')
    .option('--check', 'Exit 1 if any page is unsealed or drifted; write nothing')
    .option('--dry-run', 'Plan and report, write nothing')
    .option('--report <file>', 'Write a JSON report of every page, hash and warning')
    .option('--quiet', 'Print only errors')
  const serverCommands = registerServerCommands(cli)
  // cac labels a negated flag "(default: true)", which reads as if --no-meta were on by default.
  cli.help((sections) => sections.map((section) => ({ ...section, body: section.body.replace(/^(\s*--no-\S+.*?) \(default: true\)$/gm, '$1') })))
  cli.version(await packageVersion())

  let parsed: ReturnType<typeof cli.parse>
  try {
    parsed = cli.parse(['node', 'csp-seal', ...argv], { run: false })
    cli.matchedCommand?.checkUnknownOptions()
    cli.matchedCommand?.checkOptionValue()
  } catch (error) {
    io.err(`${pc.red('csp-seal:')} ${(error as Error).message}\n${serverCommands.hint(argv) ?? ''}`)
    return 2
  }
  if (parsed.options.help || parsed.options.version) return 0
  if (serverCommands.handles(cli.matchedCommandName)) return serverCommands.run(cli.matchedCommandName!, parsed, io, (flags) => loadConfig(flags, io.cwd))
  const flags = parsed.options as Flags
  const dir = resolve(io.cwd, parsed.args[0] ?? 'dist')
  try {
    // Resolved once for the whole run: a bad config is reported before any page is read.
    const config = resolveConfig(await loadConfig(flags, io.cwd))
    if (flags.check && flags.dryRun) throw new UsageError('--check and --dry-run cannot be used together')
    const mode = flags.check ? 'check' : flags.dryRun ? 'dry-run' : 'write'
    const started = performance.now()
    const progress = io.isTTY && !flags.quiet ? progressLine(io) : undefined
    let result: SiteResult
    try {
      // Loaded here, not at the top: `csp-seal serve` starts without the sealing engine.
      const { sealDirectory } = await import('../seal/site.js')
      result = await sealDirectory(dir, config, { mode, onProgress: progress, cwd: io.cwd, keepManifest: Boolean(flags.report) })
    } finally {
      progress?.(0, 0)
    }
    if (flags.report) await writeFile(resolve(io.cwd, flags.report), `${JSON.stringify(reportOf(result), null, 2)}\n`)
    if (!flags.quiet) io.out(summary(result, mode, performance.now() - started))
    if (mode === 'check' && result.problems.length) {
      io.err(`${pc.red('csp-seal --check failed:')}\n${result.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`)
      return 1
    }
    return 0
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${pc.red('csp-seal:')} ${error.message}\n`)
      return 2
    }
    if (error instanceof SealError) {
      io.err(`${pc.red(`csp-seal: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}; nothing was written`)}\n${error.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`)
      return 1
    }
    io.err(`${pc.red('csp-seal:')} ${(error as Error).stack ?? error}\n`)
    return 1
  }
}

async function loadConfig(flags: Flags, cwd: string): Promise<CspSealConfig> {
  let config: CspSealConfig = {}
  const file = flags.config ? resolve(cwd, flags.config) : CONFIG_FILES.map((name) => resolve(cwd, name)).find(existsSync)
  if (flags.config && !existsSync(file!)) throw new UsageError(`config file ${flags.config} does not exist`)
  if (file) {
    const { createJiti } = await import('jiti')
    try {
      config = (await createJiti(import.meta.url).import(file, { default: true })) as CspSealConfig
    } catch (error) {
      throw new SealError([{ code: 'config-load', file, message: `cannot load the config: ${(error as Error).message}` }])
    }
    if (!config || typeof config !== 'object') throw new SealError([{ code: 'config-load', file, message: 'the config file must export an object (export default defineConfig({ … }))' }])
  }
  const overrides: CspSealConfig = {}
  if (flags.policy !== undefined) overrides.policy = flags.policy
  if (flags.hash !== undefined) {
    if (!HASH_ALGORITHMS.includes(flags.hash as HashAlgorithm)) throw new UsageError(`--hash must be one of ${HASH_ALGORITHMS.join(', ')}`)
    overrides.hashAlgorithm = flags.hash as HashAlgorithm
  }
  if (flags.base !== undefined) overrides.base = flags.base
  if (flags.headers !== undefined) {
    const formats = String(flags.headers).split(',').map((f) => f.trim()).filter(Boolean)
    const unknown = formats.filter((f) => !HEADER_FORMATS.includes(f as HeaderFormat))
    if (unknown.length) throw new UsageError(`unknown --headers format ${unknown.join(', ')}; use ${HEADER_FORMATS.join(',')}`)
    overrides.headers = formats as HeaderFormat[]
  }
  if (flags.meta === false) overrides.meta = false
  const remote = { ...config.remote }
  const choose = <T extends string>(flag: string | undefined, name: string, allowed: readonly T[]): T | undefined => {
    if (flag === undefined) return undefined
    if (!allowed.includes(flag as T)) throw new UsageError(`${name} must be one of ${allowed.join(', ')}`)
    return flag as T
  }
  remote.mode = choose(flags.remote, '--remote', ['fetch', 'lock-only', 'off'] as const) ?? remote.mode
  remote.onFetchError = choose(flags.remoteErrors, '--remote-errors', ['error', 'warn'] as const) ?? remote.onFetchError
  remote.allow = choose(flags.remoteAllow, '--remote-allow', ['integrity', 'origin'] as const) ?? remote.allow
  if (flags.lockFile !== undefined) remote.lockFile = flags.lockFile
  if (flags.updateLock) remote.updateLock = true
  if (Object.values(remote).some((v) => v !== undefined)) overrides.remote = remote
  return { ...config, ...overrides }
}

function progressLine(io: Io): (done: number, total: number) => void {
  let last = 0
  return (done, total) => {
    if (total === 0) return io.err('\r\x1b[K')
    const now = performance.now()
    if (now - last < 100 && done !== total) return
    last = now
    io.err(`\r\x1b[K${pc.dim(`sealing ${done}/${total} pages`)}`)
  }
}

function summary(result: SiteResult, mode: string, ms: number): string {
  const count = (f: (p: SiteResult['pages'][number]) => number) => result.pages.reduce((n, p) => n + f(p), 0)
  const verb = mode === 'check' ? 'checked' : mode === 'dry-run' ? 'planned (dry run)' : 'sealed'
  const lines = [
    `${pc.green('csp-seal')} ${verb} ${result.pages.length} page${result.pages.length === 1 ? '' : 's'} in ${result.root} (${(ms / 1000).toFixed(2)}s)`,
    `  inline hashes   ${count((p) => p.scriptHashes)} script, ${count((p) => p.styleHashes)} style, ${count((p) => p.attributeHashes)} attribute`,
    `  integrity       ${count((p) => p.integrity)} tags`,
  ]
  const remote = new Set(result.pages.flatMap((p) => p.remote))
  if (remote.size) lines.push(`  remote URLs     ${remote.size}`)
  if (mode === 'write') lines.push(`  written         ${result.written.length ? result.written.length + ' files' : 'nothing (already sealed)'}`)
  if (result.lockFile) lines.push(`  lock file       ${result.lockFile} (commit it)`)
  if (mode !== 'write') lines.push(`  ${mode === 'check' ? 'unsealed' : 'would change'}    ${result.unsealed.length} page${result.unsealed.length === 1 ? '' : 's'}`)
  lines.push(...warningLines(result.warnings))
  return `${lines.join('\n')}\n`
}

function warningLines(warnings: Problem[]): string[] {
  if (warnings.length === 0) return []
  const byCode = new Map<string, Problem[]>()
  for (const w of warnings) byCode.set(w.code, [...(byCode.get(w.code) ?? []), w])
  const total = (list: Problem[]) => list.reduce((n, w) => n + ((w as { count?: number }).count ?? 1), 0)
  const lines = [pc.yellow(`  warnings        ${[...byCode].map(([code, list]) => `${code} ×${total(list)}`).join(', ')}`)]
  for (const list of byCode.values()) {
    // The same finding on many pages is shown once, with the pages counted.
    const byMessage = new Map<string, Problem[]>()
    for (const w of list) byMessage.set(w.message, [...(byMessage.get(w.message) ?? []), w])
    const groups = [...byMessage.values()]
    for (const group of groups.slice(0, 3)) {
      const first = group[0]!
      const pages = group.reduce((n, w) => n + ((w as { count?: number }).count ?? 1), 0)
      const shown = pages > 1 ? { ...first, file: undefined, line: undefined, message: `${first.message} (${pages} times, e.g. ${first.file})` } : first
      lines.push(`    ${formatProblem(shown).replace(/\n/g, '\n    ')}`)
    }
    if (groups.length > 3) lines.push(pc.dim(`    … and ${groups.length - 3} more (--report writes them all)`))
  }
  return lines
}

function reportOf(result: SiteResult) {
  return {
    root: result.root,
    pages: result.pages.map(({ manifest, ...page }) => ({ ...page, ...manifest })),
    written: result.written,
    unsealed: result.unsealed,
    warnings: result.warnings,
    problems: result.problems,
  }
}

/** The version in csp-seal's package.json (found upwards from this file, in source or built form). */
async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises')
  for (let url = new URL('./package.json', import.meta.url); ; url = new URL('../package.json', url)) {
    const pkg = await readFile(url, 'utf8').then(JSON.parse, () => undefined) as { name?: string; version: string } | undefined
    if (pkg?.name === 'csp-seal') return pkg.version
    if (url.pathname === '/package.json') return '0.0.0'
  }
}
