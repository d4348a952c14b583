import type { ResolvedConfig } from '../config.js'
import { cspHash, integrityAccepts, type Digests } from '../csp/hash.js'
import { governingSources, isHashSource, parsePolicy, type Policy } from '../csp/policy.js'
import { fastScanHtml } from '../html/fast-scan.js'
import type { Tag } from '../html/scan.js'
import { excerpt, SealError, type Problem } from '../problems.js'
import { optedOut } from './opt-out.js'
import { resolveUrl } from './urls.js'

export interface VerifyContext {
  file: string
  config: ResolvedConfig
  /** Digests of a local asset, or undefined if it does not exist. */
  digests: (path: string) => Promise<Digests | undefined>
  /** Policy to check against; default: the page's own CSP meta tag. */
  policy?: Policy
}

/**
 * Re-reads a sealed page as the browser will and checks every inline script and style against its
 * policy and every `integrity` attribute against the file it names. Returns what would be blocked,
 * with line and element: this catches anything that changed the page or its assets after sealing.
 */
export async function verifyHtml(source: string, { file, config, digests, policy }: VerifyContext): Promise<Problem[]> {
  const html = source.startsWith('\uFEFF') ? source.slice(1) : source
  const scan = fastScanHtml(html)
  const problems: Problem[] = []
  const at = (tag: Tag) => (tag.editable ? { file, line: tag.line, column: tag.column, element: excerpt(html.slice(tag.start, tag.end)) } : { file, element: `<${tag.name}>` })
  let checked = policy
  if (!checked) {
    const meta = scan.metas.find((m) => !m.reportOnly)
    if (!meta) return [{ code: 'unsealed', file, message: 'the page has no Content-Security-Policy meta tag', fix: 'run csp-seal on it' }]
    try {
      checked = parsePolicy(meta.content, 'policy meta tag')
    } catch (error) {
      if (error instanceof SealError) return error.problems.map((p) => ({ ...p, ...at(meta.tag) }))
      throw error
    }
  }
  for (const code of scan.inline) {
    if (optedOut(code.tag)) continue
    const directive = code.element === 'script' ? 'script-src-elem' : 'style-src-elem'
    if (!allowsHash(checked, directive, cspHash(code.text, config.hashAlgorithm), false)) {
      problems.push({ code: 'hash-drift', message: `this inline <${code.element}> is not allowed by the page's policy: it changed after sealing, or was never sealed; browsers will block it`, ...at(code.tag), element: excerpt(`${html.slice(code.tag.start, code.tag.end)}${code.text}`), fix: 'make csp-seal run after every plugin or step that rewrites HTML, then seal again' })
    }
  }
  if (config.styleAttributes === 'hash') {
    for (const attr of scan.attributes) {
      if (attr.kind === 'style' && !optedOut(attr.tag) && !allowsHash(checked, 'style-src-attr', cspHash(attr.value, config.hashAlgorithm), true)) {
        problems.push({ code: 'hash-drift', message: 'this style attribute is not allowed by the page\'s policy: it changed after sealing', ...at(attr.tag), fix: 'seal again after the step that rewrites HTML' })
      }
    }
  }
  for (const ref of scan.external) {
    const written = ref.tag.attrs.get('integrity')?.value
    if (written === undefined || ref.tag.context === 'srcdoc' || optedOut(ref.tag)) continue
    const target = resolveUrl(ref.url, file, scan.baseHref, config.base)
    if (target.kind !== 'local') continue
    const actual = await digests(target.path).catch(() => undefined)
    if (!actual || integrityAccepts(written, actual) !== true) {
      problems.push({ code: 'integrity-drift', message: `integrity of ${ref.url} no longer matches ${target.path}${actual ? '' : ' (the file is missing)'}: browsers will refuse to load it`, ...at(ref.tag), fix: 'something changed the file after sealing (a minifier, compression or copy step): run csp-seal last' })
    }
  }
  return problems
}

function allowsHash(policy: Policy, directive: string, hash: string, attribute: boolean): boolean {
  const list = governingSources(policy, directive)
  if (list === undefined) return true
  if (list.includes(hash) && (!attribute || list.includes("'unsafe-hashes'"))) return true
  // 'unsafe-inline' counts only while no hash or nonce switches it off.
  return list.includes("'unsafe-inline'") && !list.some((s) => isHashSource(s) || s.startsWith("'nonce-"))
}
