/**
 * csp-seal uses parse5's internals: the tree scanner subclasses its Parser (BrowserParser in src/html/scan.ts), the
 * fast scanner subclasses its Tokenizer (src/html/tokenizer.ts) and models its tree builder function by function
 * (src/html/fast/). So parse5 is pinned to one exact version, and this test fails loudly when the installed parse5
 * is another one, or when what csp-seal relies on has changed shape or text.
 *
 * To move to a new parse5: read the changes of the files listed in MODELLED_FILES against src/html/fast/ and
 * src/html/scan.ts, update the model, pin the new version in package.json, run the conformance suite and the
 * property tests (test/html5lib-conformance, test/fast-scan, test/tokenizer), and record the new digests here.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { foreignContent, html, InsertionMode, Parser, Tokenizer, TokenizerMode, type DefaultTreeAdapterMap } from 'parse5'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')
const PARSE5 = join(ROOT, 'node_modules', 'parse5')

/** The parse5 version csp-seal was checked against, and the digests of the files its scanners follow or extend. */
const CHECKED_VERSION = '8.1.1'
const MODELLED_FILES: Record<string, string> = {
  'dist/parser/index.js': 'aea0f192547ab31397499d28fff0905eaf507f3805800a3da665eadd3775723a',
  'dist/parser/open-element-stack.js': 'ecb769ad057f6669fba19ee1396147cc2cfe36cb947d425f0cd0aa75223c1437',
  'dist/parser/formatting-element-list.js': '0aa08a9b566343c001c52d760b40a5384eac5eb137aedbcce14b24ea29374352',
  'dist/tokenizer/index.js': 'a34011375a5e05d75adfe6754373e8b5a486aa7334f306d7df9cc6ef6cebeba2',
  'dist/tokenizer/preprocessor.js': '535c8ca4c805bc07c456dedd3a097a7d1a0828381f84ff53cf83bb86fb4b7e4d',
  'dist/common/html.js': 'e6cf93f387be70ddcd4f2bec67fbeb53161094f6306d834de461ec888a9dab76',
  'dist/common/foreign-content.js': '129a84a9d04b6050b6896de45a70e1ee468434e19bdd6486e3aef3405d137cac',
  'dist/common/token.js': '52dac9efba3a637771818d633a5cf1df30c7913d05ff23235150c88319ea035a',
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'))

describe('parse5 is pinned while its internals are used', () => {
  it('package.json asks for one exact version, the lock file and node_modules hold it, and it is the version checked', () => {
    const wanted = readJson(join(ROOT, 'package.json')).dependencies.parse5
    expect(wanted, 'package.json must pin parse5 to an exact version (no ^ or ~): csp-seal uses its internals').toMatch(/^\d+\.\d+\.\d+$/)
    const lock = readJson(join(ROOT, 'package-lock.json'))
    expect(lock.packages[''].dependencies.parse5).toBe(wanted)
    expect(lock.packages['node_modules/parse5'].version).toBe(wanted)
    expect(readJson(join(PARSE5, 'package.json')).version, 'the installed parse5').toBe(wanted)
    expect(wanted, `parse5 ${wanted} is not the version the scanners were checked against (${CHECKED_VERSION}): see the top of this file`).toBe(CHECKED_VERSION)
  })

  it('the files the scanners follow are the ones they were checked against', () => {
    const changed = Object.entries(MODELLED_FILES)
      .filter(
        ([file, digest]) =>
          createHash('sha256')
            .update(readFileSync(join(PARSE5, file)))
            .digest('hex') !== digest,
      )
      .map(([file]) => file)
    expect(changed, `parse5's ${changed.join(', ')} changed: the scanners follow them; see the top of this file`).toEqual([])
  })

  it('the Parser has what BrowserParser overrides and calls', () => {
    const methods = [
      'onNullCharacter',
      '_insertCharacters',
      '_insertElement',
      '_appendElement',
      '_startTagOutsideForeignContent',
      '_endTagOutsideForeignContent',
      '_closePElement',
      '_reconstructActiveFormattingElements',
      '_resetInsertionMode',
      'getFragment',
    ]
    expect(methods.filter((name) => typeof (Parser.prototype as unknown as Record<string, unknown>)[name] !== 'function')).toEqual([])
    expect(typeof Parser.parse).toBe('function')
    expect(typeof Parser.getFragmentParser).toBe('function')
    const parser = new Parser<DefaultTreeAdapterMap>() as unknown as Record<string, unknown>
    const fields = [
      'openElements',
      'insertionMode',
      'skipNextNewLine',
      'framesetOk',
      'fragmentContext',
      'fragmentContextID',
      'tmplInsertionModeStack',
      'headElement',
      'treeAdapter',
      'tokenizer',
    ]
    expect(fields.filter((name) => !(name in parser))).toEqual([])
    const stack = parser['openElements'] as Record<string, unknown>
    const stackMethods = [
      'hasInScope',
      'hasInListItemScope',
      'hasInButtonScope',
      'hasNumberedHeaderInScope',
      '_indexOf',
      'indexOfTopmost',
      'indexOfTopmostOf',
      'popUntilTagNamePopped',
      'generateImpliedEndTags',
      'pop',
    ]
    expect(stackMethods.filter((name) => typeof stack[name] !== 'function')).toEqual([])
    expect(['items', 'tagIDs', 'current', 'currentTagId'].filter((name) => !(name in stack))).toEqual([])
    // The insertion modes BrowserParser reads and sets.
    const modes = [
      'IN_BODY',
      'IN_SELECT',
      'IN_SELECT_IN_TABLE',
      'IN_CAPTION',
      'IN_CELL',
      'IN_TABLE',
      'IN_TABLE_BODY',
      'IN_ROW',
      'IN_COLUMN_GROUP',
      'IN_FRAMESET',
      'IN_HEAD',
      'AFTER_HEAD',
      'BEFORE_HEAD',
    ] as const
    expect(modes.filter((mode) => typeof InsertionMode[mode] !== 'number')).toEqual([])
  })

  it('the Tokenizer has what RunTokenizer overrides and reads', () => {
    const states = [
      '_ensureCharacterToken',
      '_stateData',
      '_stateRcdata',
      '_stateRawtext',
      '_stateScriptData',
      '_stateAttributeValueDoubleQuoted',
      '_stateAttributeValueSingleQuoted',
      '_stateTagName',
      '_stateAttributeName',
    ]
    expect(states.filter((name) => typeof (Tokenizer.prototype as unknown as Record<string, unknown>)[name] !== 'function')).toEqual([])
    const tokenizer = new Tokenizer({ sourceCodeLocationInfo: true }, {} as ConstructorParameters<typeof Tokenizer>[1]) as unknown as Record<string, unknown>
    expect(
      ['runEnd', 'currentCharacterToken', 'currentToken', 'currentAttr', 'inForeignNode', 'state', 'preprocessor'].filter((name) => !(name in tokenizer)),
    ).toEqual([])
    const preprocessor = tokenizer['preprocessor'] as Record<string, unknown>
    expect(['html', 'pos'].filter((name) => !(name in preprocessor))).toEqual([])
    expect([TokenizerMode.RCDATA, TokenizerMode.RAWTEXT, TokenizerMode.SCRIPT_DATA, TokenizerMode.PLAINTEXT].every((mode) => typeof mode === 'number')).toBe(
      true,
    )
  })

  it('the tag IDs, element classes and foreign content rules the fast model reads are there', () => {
    // The model's tables are indexed by tag ID below 256, and its keys by namespace * 256 + tag ID.
    const ids = Object.values(html.TAG_ID).filter((id): id is number => typeof id === 'number')
    expect(Math.max(...ids)).toBeLessThan(256)
    expect(html.getTagID('script')).toBe(html.TAG_ID.SCRIPT)
    expect([html.NS.HTML, html.NS.SVG, html.NS.MATHML].every((ns) => html.SPECIAL_ELEMENTS[ns] instanceof Set)).toBe(true)
    const functions = ['causesExit', 'adjustTokenMathMLAttrs', 'adjustTokenSVGAttrs', 'adjustTokenSVGTagName', 'adjustTokenXMLAttrs'] as const
    expect(functions.filter((name) => typeof foreignContent[name] !== 'function')).toEqual([])
    expect(foreignContent.SVG_TAG_NAMES_ADJUSTMENT_MAP.get('clippath')).toBe('clipPath')
  })
})
