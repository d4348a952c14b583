import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { relative, resolve } from 'node:path'
import type { CspSealConfig } from '../config.js'
import { SealError, type Problem } from '../problems.js'

/** Config files looked for in the current folder, in this order. */
export const CONFIG_FILES = ['csp-seal.config.ts', 'csp-seal.config.mjs', 'csp-seal.config.js', 'csp-seal.config.json']

/** The config file to load: the one given, else the first of {@link CONFIG_FILES} in `cwd`, else none. */
export function findConfigFile(cwd: string, given?: string): string | undefined {
  if (given !== undefined) return resolve(cwd, given)
  return CONFIG_FILES.map((name) => resolve(cwd, name)).find(existsSync)
}

/**
 * Loads a config file (TypeScript or JavaScript through jiti, JSON as JSON). A syntax error is reported with the
 * file, line and column and the lines around it; any other failure with the file and the error's message.
 */
export async function loadConfigFile(file: string, cwd: string): Promise<CspSealConfig> {
  const shown = relative(cwd, file) || file
  let config: unknown
  if (file.endsWith('.json')) {
    const text = await readFile(file, 'utf8')
    try {
      config = JSON.parse(text)
    } catch (error) {
      const offset = jsonErrorOffset(text, error as Error)
      throw new SealError([syntaxProblem(shown, text, offset, offset < text.length ? `unexpected ${JSON.stringify(text[offset])}` : 'the file ends too early')])
    }
  } else {
    const { createJiti } = await import('jiti')
    try {
      config = await createJiti(import.meta.url).import(file, { default: true })
    } catch (error) {
      const message = (error as Error).message ?? String(error)
      // jiti reports a parse error as "<reason> \n <file>:<line>:<column>" (column from 0).
      const at = /^(?:\w*Error: )?([\s\S]*?)\s*\n\s*(.+):(\d+):(\d+)\s*$/.exec(message)
      if (at && resolve(at[2]!) === file) {
        const text = await readFile(file, 'utf8')
        throw new SealError([syntaxProblem(shown, text, offsetOf(text, Number(at[3]), Number(at[4]) + 1), at[1]!)])
      }
      throw new SealError([
        { code: 'config-load', file: shown, message: `cannot load the config: ${message}`, fix: 'run the file with node to see the full error' },
      ])
    }
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    throw new SealError([{ code: 'config-load', file: shown, message: 'the config file must export an object', fix: 'export default defineConfig({ … })' }])
  }
  return config as CspSealConfig
}

/** A syntax error at `offset` of `text`: where it is, why, and the lines around it with a caret. */
function syntaxProblem(file: string, text: string, offset: number, reason: string): Problem {
  const lines = text.split(/\r\n|\r|\n/)
  let line = 0
  let start = 0
  while (line < lines.length - 1 && start + lines[line]!.length < offset) {
    start += lines[line]!.length + (text[start + lines[line]!.length] === '\r' && text[start + lines[line]!.length + 1] === '\n' ? 2 : 1)
    line++
  }
  const column = Math.max(0, offset - start) + 1
  const width = String(line + 1).length
  const frame = [line - 1, line].filter((n) => n >= 0).map((n) => `${n === line ? '>' : ' '} ${String(n + 1).padStart(width)} | ${lines[n]}`)
  frame.push(`  ${' '.repeat(width)} | ${' '.repeat(column - 1)}^`)
  return {
    code: 'config-syntax',
    file,
    line: line + 1,
    column,
    message: `syntax error in the config: ${reason}\n${frame.join('\n')}`,
    fix: 'correct the file at that place',
  }
}

/** The offset of a 1-based line and column in `text`. */
function offsetOf(text: string, line: number, column: number): number {
  let offset = 0
  for (let n = 1; n < line; n++) {
    const next = text.indexOf('\n', offset)
    if (next === -1) return text.length
    offset = next + 1
  }
  return offset + column - 1
}

/**
 * Where JSON.parse failed: from its message when the engine gives a position, else found by scanning the JSON
 * grammar (engines leave the position out of some messages, e.g. for a trailing comma in an array).
 */
function jsonErrorOffset(text: string, error: Error): number {
  const position = /at position (\d+)/.exec(error.message)
  if (position) return Number(position[1])
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(error.message)
  if (lineColumn) return offsetOf(text, Number(lineColumn[1]), Number(lineColumn[2]))
  return firstJsonError(text)
}

/** The offset of the first character that cannot continue a JSON text (its length if the text ends too early). */
function firstJsonError(text: string): number {
  let i = 0
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const fail = (): never => {
    throw i
  }
  const value = (): void => {
    space()
    const c = text[i]
    if (c === '{')
      return members('}', () => {
        string()
        space()
        if (text[i] !== ':') fail()
        i++
        value()
      })
    if (c === '[') return members(']', value)
    if (c === '"') return string()
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400))
    if (!literal) fail()
    i += literal![0].length
  }
  const members = (close: string, member: () => void) => {
    i++
    space()
    if (text[i] === close) return void i++
    for (;;) {
      if (close === '}') space()
      member()
      space()
      if (text[i] === ',') {
        i++
        space()
        if (text[i] === close) fail()
        continue
      }
      if (text[i] === close) return void i++
      fail()
    }
  }
  const string = () => {
    if (text[i] !== '"') fail()
    i++
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++
      else if (text.charCodeAt(i) < 0x20) fail()
      i++
    }
    if (i >= text.length) fail()
    i++
  }
  try {
    value()
    space()
    return i < text.length ? i : text.length
  } catch (at) {
    return Math.min(at as number, text.length)
  }
}
