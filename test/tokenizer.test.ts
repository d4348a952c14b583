import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { Tokenizer, TokenizerMode, type Token, type TokenHandler } from 'parse5'
import { describe, expect, it } from 'vitest'
import { RunTokenizer } from '../src/html/tokenizer.js'
import { propertyRuns } from './support/property-runs.js'

/** Elements after whose start tag the tree builder switches the tokenizer out of the data state. */
const TEXT_STATES: Record<string, Tokenizer['state']> = {
  script: TokenizerMode.SCRIPT_DATA as Tokenizer['state'],
  style: TokenizerMode.RAWTEXT as Tokenizer['state'],
  xmp: TokenizerMode.RAWTEXT as Tokenizer['state'],
  noembed: TokenizerMode.RAWTEXT as Tokenizer['state'],
  textarea: TokenizerMode.RCDATA as Tokenizer['state'],
  title: TokenizerMode.RCDATA as Tokenizer['state'],
  plaintext: TokenizerMode.PLAINTEXT as Tokenizer['state'],
}

/**
 * Every token a tokenizer emits, with its location, driven the way the tree builder drives it (text states after
 * `<script>`, `<style>`, `<textarea>`…, foreign content inside `<svg>`/`<math>`, where CDATA sections are read).
 */
function tokens(TokenizerClass: typeof Tokenizer, html: string, joinsWhitespace?: () => boolean): unknown[] {
  const seen: unknown[] = []
  let foreign = 0
  const record = (kind: string) => (token: unknown) => seen.push([kind, structuredClone(token)])
  const handler: TokenHandler = {
    onStartTag(token: Token.TagToken) {
      seen.push(['start', structuredClone(token)])
      if (token.tagName === 'svg' || token.tagName === 'math') {
        if (!token.selfClosing) foreign++
      } else if (foreign === 0 && TEXT_STATES[token.tagName] !== undefined) {
        tokenizer.state = TEXT_STATES[token.tagName]!
      }
      tokenizer.inForeignNode = foreign > 0
    },
    onEndTag(token: Token.TagToken) {
      seen.push(['end', structuredClone(token)])
      if ((token.tagName === 'svg' || token.tagName === 'math') && foreign > 0) foreign--
      tokenizer.inForeignNode = foreign > 0
    },
    onCharacter: record('chars'),
    onWhitespaceCharacter: record('whitespace'),
    onNullCharacter: record('null'),
    onComment: record('comment'),
    onDoctype: record('doctype'),
    onEof: record('eof'),
    ...(joinsWhitespace ? { joinsWhitespace } : {}),
  }
  const tokenizer = new TokenizerClass({ sourceCodeLocationInfo: true }, handler)
  tokenizer.write(html, true)
  return seen
}

function same(html: string): void {
  expect(tokens(RunTokenizer, html)).toEqual(tokens(Tokenizer, html))
}

type Recorded = [string, { chars: string; location: { endLine: number; endCol: number; endOffset: number } }]

/** The stock tokens with whitespace joined to the text before it, and text to joined whitespace: one text token. */
function joined(stock: unknown[]): unknown[] {
  const out: Recorded[] = []
  for (const item of stock as Recorded[]) {
    const last = out.at(-1)
    if (last?.[0] === 'chars' && (item[0] === 'chars' || item[0] === 'whitespace')) {
      last[1].chars += item[1].chars
      Object.assign(last[1].location, { endLine: item[1].location.endLine, endCol: item[1].location.endCol, endOffset: item[1].location.endOffset })
    } else {
      out.push(structuredClone(item))
    }
  }
  return out
}

it('is the stock tokenizer for a handler that wants parse errors (some are reported code point by code point)', () => {
  const errors = (TokenizerClass: typeof Tokenizer) => {
    const found: string[] = []
    const ignore = () => {}
    const handler = {
      onStartTag: ignore,
      onEndTag: ignore,
      onCharacter: ignore,
      onWhitespaceCharacter: ignore,
      onNullCharacter: ignore,
      onComment: ignore,
      onDoctype: ignore,
      onEof: ignore,
      onParseError: (error: { code: string; startOffset: number }) => found.push(`${error.code}@${error.startOffset}`),
    }
    new TokenizerClass({ sourceCodeLocationInfo: true }, handler).write('<p title="a\u0001b">x\u0001y\ufdd0z</p>', true)
    return found
  }
  expect(errors(RunTokenizer)).toEqual(errors(Tokenizer))
  expect(errors(Tokenizer)).toHaveLength(3)
})

/** Pieces that reach every state a run may start in or stop at: markup, quotes, references, line breaks, NULs, surrogates. */
const piece = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('<', '>', '</', '/>', '&', '"', "'", '=', ' ', '  ', '\t', '\n', '\r', '\r\n', '\f', '\0', '-', '--', '!', '?', '`'),
  },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'a',
      'Ab',
      'data-x',
      'x:y',
      'z_1.2',
      'é',
      'ü',
      '\u00a0',
      '\u2028',
      '\ufeff',
      '😀',
      '\ud800',
      '\udc00',
      'x\ud83d',
      '\u0080',
      '\u0001',
      '\ufdd0',
    ),
  },
  { weight: 4, arbitrary: fc.constantFrom('amp;', '&amp;', '&lt', '&#x41;', '&#0;', '&#128512;', '&notin;', '&noti', '&AElig') },
  {
    weight: 4,
    arbitrary: fc.constantFrom('script', 'SCRIPT', 'style', 'textarea', 'title', 'xmp', 'noembed', 'plaintext', 'svg', 'math', 'div', 'a', 'p', 'Foo'),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '<!--',
      '-->',
      '<!DOCTYPE html>',
      '<![CDATA[',
      ']]>',
      '<!-',
      '<?x?>',
      '<script>',
      '</script>',
      '<!--<script>',
      '<style>',
      '</style>',
      '<svg>',
      '</svg>',
      '<textarea>',
      '</textarea>',
    ),
  },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
)

describe('RunTokenizer: the same tokens, texts and locations as parse5’s Tokenizer', () => {
  it('on generated markup', () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 80 }).map((pieces) => pieces.join('')),
        same,
      ),
      { numRuns: propertyRuns(4000) },
    )
  })

  it('on generated tags with long names, attribute values and texts', () => {
    const word = fc.constantFrom('data-state', 'aria-label', 'class', 'HREF', 'x', 'stroke-width', 'xlink:href')
    const text = fc
      .array(fc.constantFrom('lorem ', 'ipsum\n', '  ', '&amp; ', 'é', '<', '"', "'", '\r\n', '\0', '😀', 'x'), { maxLength: 30 })
      .map((parts) => parts.join(''))
    const tag = fc
      .tuple(
        fc.constantFrom('div', 'SPAN', 'script', 'style', 'textarea', 'svg', 'path', 'title'),
        fc.array(fc.tuple(word, fc.constantFrom('"', "'", ''), text), { maxLength: 5 }),
        text,
      )
      .map(([name, attrs, body]) => `<${name}${attrs.map(([attr, quote, value]) => ` ${attr}=${quote}${value}${quote}`).join('')}>${body}</${name}>`)
    fc.assert(
      fc.property(
        fc.array(tag, { maxLength: 20 }).map((tags) => tags.join('\n')),
        same,
      ),
      { numRuns: propertyRuns(2000) },
    )
  })

  it('across the 64 KB mark where the tokenizer drops the input it has read', () => {
    const long = fc
      .tuple(fc.nat({ max: 400 }), fc.array(piece, { maxLength: 30 }))
      .map(([n, tail]) => `<p title="${'x'.repeat(65_400 + n)}">${'word '.repeat(n)}</p><script>${'a'.repeat(66_000)}</script>${tail.join('')}`)
    fc.assert(fc.property(long, same), { numRuns: propertyRuns(60) })
  })

  it('on every page of fixtures/', () => {
    const pages = (readdirSync('fixtures', { recursive: true }) as string[]).filter((file) => file.endsWith('.html'))
    expect(pages.length).toBeGreaterThan(20)
    for (const file of pages) same(readFileSync(join('fixtures', file), 'utf8'))
  })

  it('with whitespace joining text: the stock tokens, each text joined with the whitespace and text after it', () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 80 }).map((pieces) => pieces.join('')),
        (html) => {
          const stock = tokens(Tokenizer, html)
          expect(tokens(RunTokenizer, html, () => true)).toEqual(joined(stock))
          expect(tokens(RunTokenizer, html, () => false)).toEqual(stock)
        },
      ),
      { numRuns: propertyRuns(3000) },
    )
    expect((joined(tokens(Tokenizer, '<p>a b\n c &amp; d</p>  e')) as Recorded[]).map(([kind]) => kind)).toEqual([
      'start',
      'chars',
      'end',
      'whitespace',
      'chars',
      'eof',
    ])
  })
})
