import { Token, Tokenizer, type TokenHandler } from 'parse5'

/*
 * parse5's tokenizer reads one code point per turn of its state machine; most of a page is runs that the
 * states for text, attribute values and names handle the same way, code point after code point. After the
 * stock state has taken the first code point of such a run, RunTokenizer takes the rest of it in one step, with
 * exactly the stock effect (the run is extended; the name grows by the same lowercase characters). A run never
 * crosses a character the stock states treat differently, a line break (the preprocessor counts lines and folds
 * CR LF) or a surrogate (the preprocessor pairs them), so positions, lines and tokens are the stock ones.
 * Where its handler allows, whitespace also joins the text before it (see RunTokenHandler).
 */

/** Classes of ASCII code units, as bit flags. */
const TEXT_END = 1 // ends a run of text in the data and RCDATA states
const RAW_END = 2 // ends a run of text in the script data and RAWTEXT states
const BLANK = 4 // continues a run of whitespace (line breaks excepted)
const DOUBLE_QUOTED_END = 8
const SINGLE_QUOTED_END = 16
const NAME = 32 // continues a tag or attribute name (already lowercase)
const JOINED_TEXT_END = 64 // ends a run of text and whitespace in the data and RCDATA states
const JOINED_RAW_END = 128 // ends a run of text and whitespace in the script data and RAWTEXT states

const CLASSES = new Uint8Array(128)
for (const c of '\t\n\f\r <&\0') CLASSES[c.charCodeAt(0)]! |= TEXT_END
for (const c of '\t\n\f\r <\0') CLASSES[c.charCodeAt(0)]! |= RAW_END
for (const c of ' \t\f') CLASSES[c.charCodeAt(0)]! |= BLANK
for (const c of '"&\0\r\n') CLASSES[c.charCodeAt(0)]! |= DOUBLE_QUOTED_END
for (const c of "'&\0\r\n") CLASSES[c.charCodeAt(0)]! |= SINGLE_QUOTED_END
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789-_:.') CLASSES[c.charCodeAt(0)]! |= NAME
for (const c of '\n\r<&\0') CLASSES[c.charCodeAt(0)]! |= JOINED_TEXT_END
for (const c of '\n\r<\0') CLASSES[c.charCodeAt(0)]! |= JOINED_RAW_END

const isSurrogate = (c: number) => c >= 0xd800 && c <= 0xdfff

/** Whether code point `cp` is not of a class in `ends`: any non-ASCII one is not. */
const inRunUntil = (cp: number, ends: number) => cp >= 128 || (CLASSES[cp]! & ends) === 0

/** Index after the run from `from` that ends at a code unit of class `ends`, a surrogate, or the end of the input. */
function runUntil(html: string, from: number, ends: number): number {
  let i = from
  for (; i < html.length; i++) {
    const c = html.charCodeAt(i)
    if (c < 128 ? (CLASSES[c]! & ends) !== 0 : isSurrogate(c)) break
  }
  return i
}

/** Index after the run from `from` of ASCII code units of class `keeps`. */
function runWhile(html: string, from: number, keeps: number): number {
  let i = from
  for (; i < html.length; i++) {
    const c = html.charCodeAt(i)
    if (c >= 128 || (CLASSES[c]! & keeps) === 0) break
  }
  return i
}

/**
 * A token handler that may let whitespace join the text before it: stock tokens split "a b" into three (text,
 * whitespace, text), which only matters to a tree builder in some insertion modes. Asked when whitespace follows
 * text in the same character token; the joined token is a character token.
 */
export interface RunTokenHandler extends TokenHandler {
  joinsWhitespace?(): boolean
}

/**
 * parse5's Tokenizer, taking runs of text, attribute values and names whole. With an `onParseError` handler it is
 * the stock tokenizer: the preprocessor reports some errors (control characters, noncharacters) code point by code point.
 */
export class RunTokenizer extends Tokenizer {
  private readonly runs: boolean
  private readonly joinsWhitespace: (() => boolean) | undefined

  constructor(options: ConstructorParameters<typeof Tokenizer>[0], handler: RunTokenHandler) {
    super(options, handler)
    this.runs = !handler.onParseError
    this.joinsWhitespace = this.runs ? handler.joinsWhitespace?.bind(handler) : undefined
  }

  protected override _ensureCharacterToken(type: Token.CharacterToken['type']): void {
    if (type === Token.TokenType.WHITESPACE_CHARACTER && this.joining()) return
    super._ensureCharacterToken(type)
  }

  /** Whether whitespace now joins the open text token. */
  private joining(): boolean {
    return this.currentCharacterToken?.type === Token.TokenType.CHARACTER && this.joinsWhitespace !== undefined && this.joinsWhitespace()
  }

  protected override _stateData(cp: number): void {
    super._stateData(cp)
    this.extendText(cp, TEXT_END, JOINED_TEXT_END)
  }

  protected override _stateRcdata(cp: number): void {
    super._stateRcdata(cp)
    this.extendText(cp, TEXT_END, JOINED_TEXT_END)
  }

  protected override _stateRawtext(cp: number): void {
    super._stateRawtext(cp)
    this.extendText(cp, RAW_END, JOINED_RAW_END)
  }

  protected override _stateScriptData(cp: number): void {
    super._stateScriptData(cp)
    this.extendText(cp, RAW_END, JOINED_RAW_END)
  }

  protected override _stateAttributeValueDoubleQuoted(cp: number): void {
    super._stateAttributeValueDoubleQuoted(cp)
    if (inRunUntil(cp, DOUBLE_QUOTED_END)) this.extendRunTo(runUntil(this.preprocessor.html, this.preprocessor.pos + 1, DOUBLE_QUOTED_END))
  }

  protected override _stateAttributeValueSingleQuoted(cp: number): void {
    super._stateAttributeValueSingleQuoted(cp)
    if (inRunUntil(cp, SINGLE_QUOTED_END)) this.extendRunTo(runUntil(this.preprocessor.html, this.preprocessor.pos + 1, SINGLE_QUOTED_END))
  }

  protected override _stateTagName(cp: number): void {
    super._stateTagName(cp)
    const token = this.currentToken
    if (this.runs && cp < 128 && CLASSES[cp]! & NAME && token && 'tagName' in token) token.tagName += this.takeName()
  }

  protected override _stateAttributeName(cp: number): void {
    super._stateAttributeName(cp)
    if (this.runs && cp < 128 && CLASSES[cp]! & NAME) this.currentAttr.name += this.takeName()
  }

  /**
   * After a text state took `cp`: the rest of its run of whitespace, or of other text up to a character of class
   * `ends`; or, while whitespace joins text, of both up to one of class `joinedEnds`.
   */
  private extendText(cp: number, ends: number, joinedEnds: number): void {
    const { html, pos } = this.preprocessor
    if (inRunUntil(cp, joinedEnds) && this.joining()) this.extendRunTo(runUntil(html, pos + 1, joinedEnds))
    else if (cp < 128 && CLASSES[cp]! & BLANK) this.extendRunTo(runWhile(html, pos + 1, BLANK))
    else if (inRunUntil(cp, ends | BLANK)) this.extendRunTo(runUntil(html, pos + 1, ends | BLANK))
  }

  /** Moves past the input before `end`, appended as is to the run the current code point just extended. */
  private extendRunTo(end: number): void {
    const preprocessor = this.preprocessor
    // The stock state appended the current code point as is only if the run now ends right after it.
    if (!this.runs || end <= preprocessor.pos + 1 || this.runEnd !== preprocessor.pos + 1) return
    this.runEnd = end
    preprocessor.pos = end - 1
  }

  /** The rest of a lowercase name after the current code point, consumed. */
  private takeName(): string {
    const preprocessor = this.preprocessor
    const start = preprocessor.pos + 1
    const end = runWhile(preprocessor.html, start, NAME)
    preprocessor.pos = end - 1
    return preprocessor.html.slice(start, end)
  }
}
