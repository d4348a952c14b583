import type { ResolvedConfig } from '../config.js'
import { allowsInline, type InlineDirective } from '../csp/inline.js'
import { isSealMeta } from '../csp/meta.js'
import { parsePolicy, type Policy } from '../csp/policy.js'
import { fastScanHtml } from '../html/fast-scan.js'
import type { Tag } from '../html/scan.js'
import { excerpt, SealError, type Problem } from '../problems.js'
import { integrityAccepts, type Digests } from '../sri/integrity.js'
import { blockingPolicy, pagePolicies, type Where } from './page-policy.js'
import { optedOut } from './opt-out.js'
import { resolveUrl } from './urls.js'

export interface VerifyContext {
  file: string
  config: ResolvedConfig
  /** Digests of a local asset, or undefined if it does not exist. */
  digests: (path: string) => Promise<Digests | undefined>
  /** csp-seal's policy for the page; default: the one in csp-seal's meta tag in the page. */
  policy?: Policy
}

/**
 * Re-reads a sealed page as the browser will and checks every inline script, style and hashed attribute against
 * every policy the page is held to (csp-seal's and the page's own CSP metas), and every `integrity` attribute
 * against the file it names. Returns what csp-seal's policy would newly block, with line and element: this catches
 * anything that changed the page or its assets after sealing. Code the page's own policy blocks was reported when
 * the page was sealed, and is not drift.
 */
export async function verifyHtml(source: string, { file, config, digests, policy }: VerifyContext): Promise<Problem[]> {
  const html = source.startsWith('\uFEFF') ? source.slice(1) : source
  const scan = fastScanHtml(html)
  const problems: Problem[] = []
  const at = (tag: Tag): Where =>
    tag.editable ? { file, line: tag.line, column: tag.column, element: excerpt(html.slice(tag.start, tag.end)) } : { file, element: `<${tag.name}>` }
  const own = pagePolicies(scan, config, at)
  if (own.errors.length) return own.errors
  let sealed = policy
  if (!sealed) {
    const meta = scan.metas.find((m) => isSealMeta(m.tag.attrs) && !m.reportOnly)
    if (!meta) return [{ code: 'unsealed', file, message: 'the page has no Content-Security-Policy meta tag written by csp-seal', fix: 'run csp-seal on it' }]
    try {
      sealed = parsePolicy(meta.content, 'policy meta tag')
    } catch (error) {
      if (error instanceof SealError) return error.problems.map((p) => ({ ...p, ...at(meta.tag) }))
      throw error
    }
  }
  /** Code csp-seal's policy blocks though the page's own policies let it run. */
  const drifted = (directive: InlineDirective, text: string, tag: Tag) =>
    !allowsInline(sealed, directive, text) && !blockingPolicy(own.own, directive, text, tag)
  for (const code of scan.inline) {
    if (optedOut(code.tag)) continue
    if (drifted(code.element === 'script' ? 'script-src-elem' : 'style-src-elem', code.text, code.tag)) {
      problems.push({
        code: 'hash-drift',
        message: `this inline <${code.element}> is not allowed by the page's policy: it changed after sealing, or was never sealed; browsers will block it`,
        ...at(code.tag),
        element: excerpt(`${html.slice(code.tag.start, code.tag.end)}${code.text}`),
        fix: 'make csp-seal run after every plugin or step that rewrites HTML, then seal again',
      })
    }
  }
  for (const attr of scan.attributes) {
    const hashed = attr.kind === 'style' ? config.styleAttributes === 'hash' : attr.kind === 'handler' && config.eventHandlers === 'hash'
    if (hashed && !optedOut(attr.tag) && drifted(attr.kind === 'style' ? 'style-src-attr' : 'script-src-attr', attr.value, attr.tag)) {
      problems.push({
        code: 'hash-drift',
        message: `this ${attr.kind === 'style' ? 'style attribute' : `${attr.name}= handler`} is not allowed by the page's policy: it changed after sealing`,
        ...at(attr.tag),
        fix: 'seal again after the step that rewrites HTML',
      })
    }
  }
  for (const ref of scan.external) {
    const written = ref.tag.attrs.get('integrity')?.value
    if (written === undefined || ref.tag.context === 'srcdoc' || optedOut(ref.tag)) continue
    const target = resolveUrl(ref.url, file, scan.baseHref, config.base)
    if (target.kind !== 'local') continue
    const actual = await digests(target.path).catch(() => undefined)
    if (!actual || integrityAccepts(written, actual) !== true) {
      problems.push({
        code: 'integrity-drift',
        message: `integrity of ${ref.url} no longer matches ${target.path}${actual ? '' : ' (the file is missing)'}: browsers will refuse to load it`,
        ...at(ref.tag),
        fix: 'something changed the file after sealing (a minifier, compression or copy step): run csp-seal last',
      })
    }
  }
  return problems
}
