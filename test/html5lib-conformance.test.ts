/**
 * The html5lib tree-construction tests (test/conformance/html5lib, MIT) run against both scanners: for every
 * document, every script and style element the expected tree holds must be what the scanner reports, with the same
 * text, no more and no fewer. What a script element means (inline code, a file, a data block, code that never runs)
 * is read through the scanners' own rules (src/html/rules.ts): this suite tests how the scanners find the elements
 * and their text, which is where a parser's tree construction shows. Cases the scanners knowingly read otherwise are
 * listed in KNOWN_DIVERGENCES with the reason, and must still diverge, so that the list cannot go stale.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { fastScanHtml, plainTag } from '../src/html/fast-scan.js'
import { scanHtml, type Scan, type Tag } from '../src/html/scan.js'
import { scriptReport, type Context, type Namespace } from '../src/html/rules.js'

const DIR = join(import.meta.dirname, 'conformance', 'html5lib', 'tree-construction')

/**
 * Cases whose expected tree the scanners knowingly do not follow, by file and index (as printed on failure), each
 * with the reason. A listed case must still diverge.
 *
 * None today. Where the scanners depart from parse5 8 they follow the current standard, and so do these
 * expectations: select content parsed "in body", as customizable `<select>` has it (tests10.dat keeps an `<svg>`
 * inside a `<select>`), and each NUL of foreign text replaced on its own. Where they follow Chromium beyond the
 * standard (a NUL in HTML text dropped before it can change the insertion mode), no case's scripts or styles differ.
 */
const KNOWN_DIVERGENCES = new Map<string, string>([])

interface Case {
  id: string
  data: string
  /** The expected tree, as html5lib dumps it. */
  document: string
  fragment: boolean
  /** The scripting flag the expected tree was built with; 'both' when the case says neither (the tree is the same). */
  scripting: 'on' | 'off' | 'both'
}

const HEADINGS = new Set(['#data', '#errors', '#new-errors', '#document-fragment', '#script-off', '#script-on', '#document'])

/** The cases of a .dat file: each starts with a `#data` line at the start of the file or after a blank line. */
function parseDat(file: string, text: string): Case[] {
  const lines = text.split('\n')
  const starts = lines.flatMap((line, i) => (line === '#data' && (i === 0 || lines[i - 1] === '') ? [i] : []))
  return starts.map((start, n) => {
    const end = n + 1 < starts.length ? starts[n + 1]! - 1 : lines.length
    const sections = new Map<string, string[]>()
    let scripting: Case['scripting'] = 'both'
    let current: string[] = []
    for (const line of lines.slice(start, end)) {
      // Within #document every line is the tree's (a text node may hold a line that looks like a heading).
      if (HEADINGS.has(line) && !sections.has('#document')) {
        current = []
        sections.set(line, current)
        if (line === '#script-on') scripting = 'on'
        if (line === '#script-off') scripting = 'off'
      } else {
        current.push(line)
      }
    }
    const document = sections.get('#document') ?? []
    while (document.length > 0 && document[document.length - 1] === '') document.pop()
    return {
      id: `${file} #${n}`,
      data: sections.get('#data')!.join('\n'),
      document: document.join('\n'),
      fragment: sections.has('#document-fragment'),
      scripting,
    }
  })
}

interface TreeElement {
  namespace: Namespace
  name: string
  attrs: Map<string, { value: string; start: number; end: number }>
  children: TreeNode[]
  /** A `<template>`'s content. */
  content?: TreeNode[]
}
type TreeNode = TreeElement | { text: string } | { other: string }

/** Reads html5lib's dump of a tree: `| ` and two spaces per level; values may run over several lines. */
function parseTree(dump: string): TreeNode[] {
  const entries: Array<{ depth: number; value: string }> = []
  for (const line of dump.split('\n')) {
    if (line.startsWith('| ')) {
      const body = line.slice(2)
      const value = body.trimStart()
      entries.push({ depth: (body.length - value.length) / 2, value })
    } else {
      entries[entries.length - 1]!.value += `\n${line}`
    }
  }
  const root: TreeNode[] = []
  // The children list at each depth; an element's attributes and `content` come right below it.
  const levels: TreeNode[][] = [root]
  const elements: TreeElement[] = []
  for (const { depth, value } of entries) {
    const siblings = levels[depth]!
    if (value.startsWith('"')) {
      siblings.push({ text: value.slice(1, -1) })
    } else if (value.startsWith('<!') || value.startsWith('<?')) {
      siblings.push({ other: value })
    } else if (value.startsWith('<')) {
      const [first, second] = value.slice(1, -1).split(' ')
      const element: TreeElement =
        second === undefined
          ? { namespace: 'html', name: first!, attrs: new Map(), children: [] }
          : { namespace: first === 'svg' ? 'svg' : first === 'math' ? 'mathml' : 'other', name: second, attrs: new Map(), children: [] }
      siblings.push(element)
      elements[depth] = element
      levels[depth + 1] = element.children
    } else if (value === 'content') {
      const template = elements[depth - 1]!
      template.content = []
      levels[depth + 1] = template.content
    } else {
      const at = value.indexOf('="')
      // Namespaced attributes are dumped as "xlink href"; the tree holds them as "xlink:href".
      const name = value.slice(0, at).replace(' ', ':')
      elements[depth - 1]!.attrs.set(name, { value: value.slice(at + 2, -1), start: 0, end: 0 })
    }
  }
  return root
}

/**
 * What the scanners must report for the scripts and styles of a tree, one line each. `scripting`: the flag the tree
 * was built with (with scripting off, `<noscript>` content is in the tree and its scripts never run).
 */
function expectedItems(tree: TreeNode[], scripting: boolean): string[] {
  const items: string[] = []
  const walk = (nodes: TreeNode[], context: Context, documentScripting: boolean, underNoscript: boolean) => {
    for (const node of nodes) {
      if (!('name' in node)) continue
      const text = node.children.map((child) => ('text' in child ? child.text : '')).join('')
      if (node.name === 'script') {
        const tag: Tag = { name: 'script', start: 0, end: 0, nameEnd: 0, attrInsert: 0, line: 0, column: 0, attrs: node.attrs, context, editable: false }
        const report = scriptReport(node.namespace, tag, documentScripting)
        if (report?.kind === 'external') items.push(item('file', context, report.ref.url))
        else if (report?.kind === 'inline' && text !== '') items.push(item('script', context, text))
        else if (report?.kind === 'never-runs' && (text !== '' || report.code.url !== undefined))
          items.push(item(`never-runs ${report.code.reason}`, context, report.code.url ?? text))
      } else if (node.name === 'style') {
        items.push(item('style', context, text))
      }
      const inner = underNoscript || (node.namespace === 'html' && node.name === 'noscript' && !scripting)
      if (node.content) walk(node.content, context === 'document' ? 'template' : context, documentScripting, inner)
      // With scripting on, <noscript> holds raw text (which the scanners parse apart, as scripting-off content).
      else walk(node.children, inner && context === 'document' ? 'noscript' : context, documentScripting && !inner, inner)
    }
  }
  walk(tree, 'document', true, false)
  return items.sort()
}

function item(kind: string, context: Context, text: string): string {
  return `${kind} in ${context}: ${JSON.stringify(text)}`
}

/**
 * What a scanner reported for scripts and styles, as {@link expectedItems} writes it. With scripting on, what it
 * found by parsing `<noscript>` text apart is left out: the expected tree holds that text as text.
 */
function reportedItems(scan: Scan, scripting: boolean): string[] {
  const fromNoscript = (context: Context) => scripting && context === 'noscript'
  const items = [
    ...scan.inline.filter((code) => !fromNoscript(code.tag.context)).map((code) => item(code.element, code.tag.context, code.text)),
    ...scan.external.filter((ref) => ref.element === 'script' && !fromNoscript(ref.tag.context)).map((ref) => item('file', ref.tag.context, ref.url)),
    ...scan.neverRuns
      .filter((code) => code.attribute === undefined && !(scripting && code.reason === 'noscript'))
      .map((code) => item(`never-runs ${code.reason}`, code.tag.context, code.url ?? code.text)),
  ]
  return items.filter((line) => !line.includes(' in srcdoc: ')).sort()
}

/** The scan with every tag a plain object and without `fallbacks` (only the fast scan sets them). */
function plain({ fallbacks: _, ...scan }: Scan): Omit<Scan, 'fallbacks'> {
  const withTag = <T extends { tag: Tag }>(found: T): T => ({ ...found, tag: plainTag(found.tag) })
  return {
    ...scan,
    inline: scan.inline.map(withTag),
    external: scan.external.map(withTag),
    attributes: scan.attributes.map(withTag),
    neverRuns: scan.neverRuns.map(withTag),
    metas: scan.metas.map(withTag),
    ...(scan.charset ? { charset: withTag(scan.charset) } : {}),
    templatesWithCode: scan.templatesWithCode.map(plainTag),
  }
}

const files = readdirSync(DIR)
  .filter((name) => name.endsWith('.dat'))
  .sort()
const counts = {
  documents: 0,
  fragments: 0,
  withCode: 0,
  elements: 0,
  passed: { scanHtml: 0, fastScanHtml: 0 },
  diverged: { scanHtml: 0, fastScanHtml: 0 },
  fastModelled: 0,
  fastFellBack: 0,
}
const fallbackReasons = new Map<string, number>()
const seenDivergences = new Set<string>()

describe('html5lib tree construction: the scripts and styles of every document', () => {
  afterAll(() => {
    const reasons = [...fallbackReasons].map(([reason, n]) => `${reason} ×${n}`).join(', ')
    console.log(
      `html5lib tree construction: ${counts.documents} documents (${counts.fragments} fragment cases skipped: a page is never a fragment), ` +
        `${counts.withCode} of them with ${counts.elements} scripts and styles; ` +
        `scanHtml passes ${counts.passed.scanHtml} (known divergences ${counts.diverged.scanHtml}), fastScanHtml passes ${counts.passed.fastScanHtml} (known divergences ${counts.diverged.fastScanHtml}); ` +
        `the fast model followed ${counts.fastModelled} itself and handed ${counts.fastFellBack} to the tree scanner (${reasons})`,
    )
  })

  it('has its data in the repository', () => {
    expect(files.length).toBeGreaterThanOrEqual(50)
  })

  for (const file of files) {
    it(file, () => {
      const failures: string[] = []
      for (const test of parseDat(file, readFileSync(join(DIR, file), 'utf8'))) {
        if (test.fragment) {
          counts.fragments++
          continue
        }
        counts.documents++
        const scripting = test.scripting !== 'off'
        const expected = expectedItems(parseTree(test.document), scripting)
        if (expected.length > 0) {
          counts.withCode++
          counts.elements += expected.length
        }
        const tree = scanHtml(test.data)
        const fast = fastScanHtml(test.data)
        const where = `${test.id} ${JSON.stringify(test.data)} (scripting ${test.scripting})`
        // The fast model must find what the tree scanner finds, to the offset, whether or not the expected tree agrees.
        if (!isDeepStrictEqual(plain(fast), plain(tree))) failures.push(`${where}: fastScanHtml and scanHtml differ`)
        failures.push(...fast.fallbacks.filter((reason) => reason.startsWith('error')).map((reason) => `${where}: the fast model failed: ${reason}`))
        if (fast.fallbacks.length === 0) counts.fastModelled++
        else counts.fastFellBack++
        for (const reason of fast.fallbacks) fallbackReasons.set(reason, (fallbackReasons.get(reason) ?? 0) + 1)

        const known = KNOWN_DIVERGENCES.get(test.id)
        if (known !== undefined) seenDivergences.add(test.id)
        for (const [name, scan] of [
          ['scanHtml', tree],
          ['fastScanHtml', fast],
        ] as const) {
          const found = reportedItems(scan, scripting)
          const same = isDeepStrictEqual(found, expected)
          if (known !== undefined) {
            counts.diverged[name]++
            if (same) failures.push(`${where}: listed as a known divergence (${known}), but ${name} now matches: remove it from the list`)
          } else if (same) {
            counts.passed[name]++
          } else {
            failures.push(`${where}: ${name}\n  expected ${JSON.stringify(expected)}\n  found    ${JSON.stringify(found)}`)
          }
        }
      }
      expect(failures, failures.join('\n')).toEqual([])
    })
  }

  it('lists only cases that exist', () => {
    expect([...KNOWN_DIVERGENCES.keys()].filter((id) => !seenDivergences.has(id))).toEqual([])
  })
})
