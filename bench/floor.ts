/**
 * The floor: the least work any CSP sealer must do, on one thread. Read every page, run the parse5
 * `Tokenizer` once with source locations, take the text of each inline `<script>` and `<style>` as the browser
 * sees it, sha256 it, splice one `<meta>` policy tag after `<meta charset>`, write the page back.
 *
 * It is honest, not a regex: the tokenizer is driven the way parse5's tree builder drives it (script data, raw
 * text and RCDATA states after the elements that switch them; foreign content inside `<svg>`/`<math>`, where a
 * `<style>` is ordinary markup with entities decoded), and `<noscript>` content is tokenized as markup, the way
 * a browser with scripting off reads it, so its styles are found too. What it skips: a tree, policy merging,
 * SRI, attribute hashes, warnings, a manifest, and verifying what it wrote.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Tokenizer, TokenizerMode, type Token, type TokenHandler } from 'parse5'

/** Elements after whose start tag the tree builder switches the tokenizer out of the data state. */
const TEXT_STATES: Record<string, (typeof TokenizerMode)[keyof typeof TokenizerMode]> = {
  script: TokenizerMode.SCRIPT_DATA,
  style: TokenizerMode.RAWTEXT,
  xmp: TokenizerMode.RAWTEXT,
  iframe: TokenizerMode.RAWTEXT,
  noembed: TokenizerMode.RAWTEXT,
  noframes: TokenizerMode.RAWTEXT,
  textarea: TokenizerMode.RCDATA,
  title: TokenizerMode.RCDATA,
  plaintext: TokenizerMode.PLAINTEXT,
}

/** Script types a browser executes (data blocks like `application/ld+json` need no hash). */
const EXECUTABLE = new Set([
  '',
  'module',
  'importmap',
  'speculationrules',
  'text/javascript',
  'application/javascript',
  'text/ecmascript',
  'application/ecmascript',
])

export interface FloorPage {
  html: string
  /** Inline script and style texts as the browser parses them, in document order. */
  scripts: string[]
  styles: string[]
}

class InlineTextScanner implements TokenHandler {
  readonly tokenizer: Tokenizer = new Tokenizer({ sourceCodeLocationInfo: true }, this)
  readonly scripts: string[] = []
  readonly styles: string[] = []
  /** Where the policy meta goes: after `<meta charset>`, else after `<head>`, else at the start. */
  charsetEnd = -1
  headEnd = -1
  private collecting: 'script' | 'style' | undefined
  private text = ''
  private foreignDepth = 0

  onStartTag(token: Token.TagToken): void {
    const name = token.tagName
    if (name === 'svg' || name === 'math') {
      if (!token.selfClosing) this.foreignDepth++
      this.tokenizer.inForeignNode = this.foreignDepth > 0
      return
    }
    if (this.foreignDepth > 0) {
      // In SVG a <style>/<script> is plain markup: the tokenizer stays in the data state.
      if ((name === 'style' || name === 'script') && !token.selfClosing) this.begin(name)
      return
    }
    const state = TEXT_STATES[name]
    if (state !== undefined) this.tokenizer.state = state
    if (name === 'script') {
      if (attribute(token, 'src') === undefined && EXECUTABLE.has((attribute(token, 'type') ?? '').trim().toLowerCase())) this.begin('script')
    } else if (name === 'style') {
      this.begin('style')
    } else if (name === 'head' && this.headEnd < 0) {
      this.headEnd = token.location!.endOffset
    } else if (name === 'meta' && this.charsetEnd < 0 && attribute(token, 'charset') !== undefined) {
      this.charsetEnd = token.location!.endOffset
    }
  }

  onEndTag(token: Token.TagToken): void {
    if (this.collecting === token.tagName) this.finish()
    if ((token.tagName === 'svg' || token.tagName === 'math') && this.foreignDepth > 0) {
      this.foreignDepth--
      this.tokenizer.inForeignNode = this.foreignDepth > 0
    }
  }

  onCharacter(token: Token.CharacterToken): void {
    if (this.collecting) this.text += token.chars
  }

  onWhitespaceCharacter(token: Token.CharacterToken): void {
    if (this.collecting) this.text += token.chars
  }

  onNullCharacter(token: Token.CharacterToken): void {
    if (this.collecting) this.text += token.chars
  }

  onEof(): void {
    if (this.collecting) this.finish()
  }

  onComment(): void {}
  onDoctype(): void {}

  private begin(element: 'script' | 'style'): void {
    this.collecting = element
    this.text = ''
  }

  private finish(): void {
    if (this.collecting === 'style') this.styles.push(this.text)
    else if (this.text !== '') this.scripts.push(this.text)
    this.collecting = undefined
  }
}

function attribute(token: Token.TagToken, name: string): string | undefined {
  for (const attr of token.attrs) if (attr.name === name) return attr.value
  return undefined
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/** Seals one page the floor's way: one tokenizer pass, hashes, one spliced meta tag. */
export function floorPage(source: string): FloorPage {
  const bom = source.charCodeAt(0) === 0xfeff ? '\uFEFF' : ''
  const html = bom ? source.slice(1) : source
  const scanner = new InlineTextScanner()
  scanner.tokenizer.write(html, true)
  const scriptHashes = new Set(scanner.scripts.map(sha256))
  const styleHashes = new Set(scanner.styles.map(sha256))
  const meta = `<meta http-equiv="Content-Security-Policy" content="script-src 'self' ${[...scriptHashes].join(' ')}; style-src 'self' ${[...styleHashes].join(' ')}">`
  const at = scanner.charsetEnd >= 0 ? scanner.charsetEnd : Math.max(0, scanner.headEnd)
  return { html: bom + html.slice(0, at) + meta + html.slice(at), scripts: scanner.scripts, styles: scanner.styles }
}

export interface FloorRun {
  pages: number
  bytes: number
  scripts: number
  styles: number
}

/** The floor over a folder, in place: synchronous, one page at a time, on this thread. */
export function runFloor(dir: string): FloorRun {
  const run: FloorRun = { pages: 0, bytes: 0, scripts: 0, styles: 0 }
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((file) => file.endsWith('.html') || file.endsWith('.htm'))
  for (const file of files) {
    const path = join(dir, file)
    const bytes = readFileSync(path)
    const sealed = floorPage(bytes.toString('utf8'))
    writeFileSync(path, sealed.html)
    run.pages++
    run.bytes += bytes.length
    run.scripts += sealed.scripts.length
    run.styles += sealed.styles.length
  }
  return run
}
