import pc from 'picocolors'
import type { ResolvedConfig } from '../config.js'
import { formatProblem, type Problem } from '../problems.js'
import type { ProblemPlace, SiteResult } from '../site/site.js'

export type Mode = 'write' | 'check' | 'dry-run'

/** A problem as runs report it: the same finding on many pages once, with a count and the first few places. */
export type Finding = Problem & { count?: number; examples?: ProblemPlace[] }

/** Examples shown per finding, and findings shown per code; `--report` and `--json` list everything. */
const SHOWN = 3

/** Where a run's policy came from, for the summary and the report. */
export interface PolicyOrigin {
  /** `'recorded'`: `--check` used the options the sealing run recorded in the manifest. */
  base: 'default' | 'none' | 'recorded'
  yours: string[]
  fromDefault: string[]
  /** Options given to `--check` that replaced recorded ones. */
  overridden?: string[]
}

export function policyOrigin(config: ResolvedConfig, recorded: { manifest: string; overridden: string[] } | undefined): PolicyOrigin {
  if (recorded) return { base: 'recorded', yours: [], fromDefault: [], overridden: recorded.overridden }
  return { base: config.policyBase, yours: config.policySource.yours, fromDefault: config.policySource.fromDefault }
}

/**
 * Findings grouped as the terminal shows them: by code, then by message; a finding seen once prints as it is,
 * one seen many times prints once with its count, a few places and its fix.
 */
export function groupedLines(findings: readonly Finding[]): string[] {
  const byCode = new Map<string, Map<string, Finding[]>>()
  for (const finding of findings) {
    const messages = byCode.get(finding.code) ?? new Map<string, Finding[]>()
    byCode.set(finding.code, messages)
    messages.set(finding.message, [...(messages.get(finding.message) ?? []), finding])
  }
  const lines: string[] = []
  for (const [code, messages] of byCode) {
    const groups = [...messages.values()]
    for (const group of groups.slice(0, SHOWN)) {
      const first = group[0]!
      const count = group.reduce((n, f) => n + (f.count ?? 1), 0)
      if (count === 1) {
        lines.push(indent(formatProblem(first)))
        continue
      }
      const places = group.flatMap((f) => f.examples ?? [{ file: f.file, line: f.line, column: f.column }]).filter((p) => p.file)
      const shown = places.slice(0, SHOWN).map(placeText)
      lines.push(indent(`${first.message} (${count} times)`))
      if (shown.length) lines.push(`      e.g. ${shown.join(', ')}${count > shown.length ? `, and ${count - shown.length} more` : ''}`)
      if (first.fix) lines.push(`      fix: ${first.fix}`)
    }
    if (groups.length > SHOWN) lines.push(pc.dim(`    … ${groups.length - SHOWN} more ${code} findings (--report or --json lists them all)`))
  }
  return lines
}

/** `code ×count` per code, in order of appearance. */
export function countsLine(findings: readonly Finding[]): string {
  const counts = new Map<string, number>()
  for (const f of findings) counts.set(f.code, (counts.get(f.code) ?? 0) + (f.count ?? 1))
  return [...counts].map(([code, n]) => `${code} ×${n}`).join(', ')
}

export function total(findings: readonly Finding[]): number {
  return findings.reduce((n, f) => n + (f.count ?? 1), 0)
}

/** Every problem, grouped: `<headline>: N problems in M files<after>`, then the findings. */
export function failureText(problems: readonly Finding[], headline: string, after = ''): string {
  const files = new Set(problems.map((p) => p.file).filter(Boolean)).size
  const n = total(problems)
  const where = files > 1 ? ` in ${files} files` : ''
  return `${pc.red(`${headline}: ${n} problem${n === 1 ? '' : 's'}${where}${after}`)}\n  ${pc.red(countsLine(problems))}\n${groupedLines(problems).join('\n')}\n`
}

export interface SummaryInput {
  result: SiteResult
  mode: Mode
  ms: number
  origin: PolicyOrigin
  config: ResolvedConfig
  /** Files besides the pages that a check compared (the manifest, header files). */
  checkedFiles: string[]
}

export function summary({ result, mode, ms, origin, config, checkedFiles }: SummaryInput): string {
  const count = (f: (p: SiteResult['pages'][number]) => number) => result.pages.reduce((n, p) => n + f(p), 0)
  const pages = pageCount(result)
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const verb = mode === 'check' ? 'checked' : mode === 'dry-run' ? 'planned (dry run)' : 'sealed'
  // A check compares the manifest and header files only once every page checks out (site.ts).
  const pagesDrifted = mode === 'check' && result.unsealed.length > 0
  const also = mode === 'check' && checkedFiles.length && !pagesDrifted ? ` and ${checkedFiles.join(', ')}` : ''
  const lines = [
    `${pc.green('csp-seal')} ${verb} ${plural(pages, 'page')}${also} in ${result.root} (${(ms / 1000).toFixed(2)}s)`,
    `  policy          ${originText(origin, config.manifest || 'the manifest')}`,
    `  scope           ${scopeText(result.siteScope, config.scope)}`,
  ]
  if (!pagesDrifted) {
    lines.push(
      `  inline hashes   ${count((p) => p.scriptHashes)} script, ${count((p) => p.styleHashes)} style, ${count((p) => p.attributeHashes)} attribute`,
      `  integrity       ${count((p) => p.integrity)} tags`,
    )
    const treeScans = result.pages.filter((p) => p.treeScan)
    if (treeScans.length)
      lines.push(
        `  tree scans      ${plural(treeScans.length, 'page')} scanned from parse5's tree, slower but as exact (${[...new Set(treeScans.flatMap((p) => p.treeScan!))].slice(0, SHOWN).join('; ')}; --report lists them)`,
      )
    const runtime = result.runtimeStyles
    if (runtime)
      lines.push(`  run-time styles ${runtime.styles} style, ${runtime.styleAttributes} attribute (from ${plural(runtime.files, 'script')}; on every page)`)
  }
  const remote = new Set(result.pages.flatMap((p) => p.remote))
  if (remote.size) lines.push(`  remote URLs     ${remote.size}`)
  if (config.remote.trustedOrigins.length) {
    lines.push(
      pc.yellow(
        `  trusted whole   ${config.remote.trustedOrigins.join(', ')}: allowed by origin without integrity, so every script these origins serve can run`,
      ),
    )
  }
  if (result.excluded) lines.push(`  excluded        ${plural(result.excluded, 'page')} (exclude: ${config.exclude.join(', ')})`)
  if (mode === 'write') lines.push(`  written         ${result.written.length ? plural(result.written.length, 'file') : 'nothing (already sealed)'}`)
  if (result.learned) {
    const { file, styles, scripts, scriptsLeftOut } = result.learned
    const leftOut = scriptsLeftOut ? `; ${scriptsLeftOut} script hash${scriptsLeftOut === 1 ? '' : 'es'} left out (learned.scripts is off)` : ''
    lines.push(`  learned         ${styles} style and ${scripts} script hash${styles + scripts === 1 ? '' : 'es'} from ${file}${leftOut}`)
  }
  if (result.lockFile) lines.push(`  lock file       ${result.lockFile} (commit it)`)
  if (mode === 'check')
    lines.push(`  unsealed        ${plural(result.unsealed.length, 'page')}${result.problems.length ? `, ${plural(total(result.problems), 'problem')}` : ''}`)
  if (pagesDrifted && checkedFiles.length) lines.push(`  not compared    ${checkedFiles.join(', ')} (compared once every page checks out)`)
  if (mode === 'dry-run') lines.push(`  would change    ${plural(result.unsealed.length, 'page')}`)
  if (result.warnings.length) {
    lines.push(pc.yellow(`  warnings        ${countsLine(result.warnings)}`))
    lines.push(...groupedLines(result.warnings))
  }
  return `${lines.join('\n')}\n`
}

/** The scope sealed with, and why: the framework detected (with what showed it) or the option that set it. */
export function scopeText(siteScope: SiteResult['siteScope'], configured: string): string {
  const framework = siteScope.framework ?? 'no framework recognised'
  const why =
    configured === 'auto' ? (siteScope.scope === 'site' ? 'one document shows every page' : 'each page loads as its own document') : `scope: ${configured}`
  return `${siteScope.scope} (${framework}, ${siteScope.evidence}; ${why})`
}

/** Pages looked at: sealed or planned ones, and in a check those that failed too. */
export function pageCount(result: SiteResult): number {
  return new Set([...result.pages.map((p) => p.file), ...result.unsealed]).size
}

function originText(origin: PolicyOrigin, manifest: string): string {
  const list = (names: string[]) => names.join(', ')
  if (origin.base === 'recorded') {
    return `as recorded in ${manifest} by the run that sealed the folder${origin.overridden?.length ? `, except ${list(origin.overridden)} given now` : ''}`
  }
  if (origin.base === 'none') return `yours alone (policyBase 'none'): ${list(origin.yours)}`
  if (origin.yours.length === 0) return "csp-seal's default policy"
  const kept = origin.fromDefault.length ? `; from csp-seal's default: ${list(origin.fromDefault)}` : ''
  return `yours: ${list(origin.yours)}${kept}`
}

/** The report `--report` writes and `--json` prints: everything the run found, nothing for display only. */
export function reportOf(result: SiteResult | undefined, mode: Mode, origin: PolicyOrigin | undefined, errors: readonly Finding[] = []) {
  return {
    ok: errors.length === 0 && (result?.problems.length ?? 0) === 0,
    mode,
    root: result?.root,
    policy: origin,
    framework: result?.siteScope.framework ?? null,
    scope: result?.siteScope.scope,
    scopeEvidence: result?.siteScope.evidence,
    pages: (result?.pages ?? []).map(({ manifest, ...page }) => ({ ...page, ...manifest })),
    excluded: result?.excluded ?? 0,
    // Pages the fast model did not follow, scanned from the tree instead (each page's `treeScan` says why).
    treeScans: (result?.pages ?? []).filter((page) => page.treeScan).length,
    ...(result?.runtimeStyles ? { runtimeStyles: result.runtimeStyles } : {}),
    written: result?.written ?? [],
    unsealed: result?.unsealed ?? [],
    warnings: result?.warnings ?? [],
    problems: [...(result?.problems ?? []), ...errors],
  }
}

/** Progress on a terminal: pages done, the rate, and the time left at that rate. */
export function progressText(done: number, total: number, elapsedMs: number): string {
  const parts = [`sealing ${done}/${total} pages`]
  if (done > 0 && elapsedMs > 0) {
    const rate = (done * 1000) / elapsedMs
    parts.push(`${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} pages/s`)
    if (done < total) parts.push(`${duration((total - done) / rate)} left`)
  }
  return parts.join(' · ')
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`
}

function placeText(place: ProblemPlace): string {
  return `${place.file}${place.line ? `:${place.line}${place.column ? `:${place.column}` : ''}` : ''}`
}

function indent(text: string): string {
  return `    ${text.replace(/\n/g, '\n    ')}`
}
