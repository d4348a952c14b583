import { parse, type Node as AcornNode, type Options } from 'acorn'
import { ancestor, type AncestorVisitors } from 'acorn-walk'
import { parseFragment } from 'parse5'
import type { DefaultTreeAdapterMap } from 'parse5'

/**
 * Inline styles a JavaScript file can insert into a page at run time, found from its code with a real JavaScript
 * parser (acorn) and, for markup, the HTML parser browsers follow (parse5):
 * - markup in string literals and template literals (`innerHTML`, Svelte's `from_html`, Vue's static vnodes,
 *   Lit's `html`…): the values of `style="…"` attributes and the text of `<style>` elements, as the browser sees
 *   them after parsing (entities decoded). In a template literal with `${…}` parts, only attributes and style
 *   texts that hold no part are taken: what an expression gives is never guessed.
 * - `el.setAttribute('style', '…')` with a string the code spells out (or a `const` that holds one).
 * - the text of an element made by `createElement('style')`: `textContent` / `innerHTML` set to a string,
 *   `appendChild(document.createTextNode('…'))`, `append('…')`, `Object.assign(…createElement('style'), { textContent })`.
 * - the `<style>` entries of a head manager: `style: [{ innerHTML: '…' }]` (`textContent`, `children`), as unhead
 *   (Nuxt's and Vue's `useHead`) takes them.
 *
 * Only styles: a script found in a string is never taken (hashing it would turn the string into a gadget an
 * attacker could inject). Assigning `el.style.x` / `el.style.cssText` / CSSOM needs nothing: CSP does not govern it.
 */
export interface RuntimeStyles {
  /** Texts of `<style>` elements. */
  styles: Set<string>
  /** Values of `style` attributes. */
  styleAttributes: Set<string>
  /**
   * Angular component styles: compiled `styles` whose `%COMP%` placeholders Angular replaces with ids it computes
   * in the browser, so their final text is not in the file.
   */
  angularComponentStyles: boolean
}

export type RuntimeStylesResult = ({ parsed: true } & RuntimeStyles) | { parsed: false; message: string }

// acorn's node types do not carry each node type's fields: the walkers read them by name.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = AcornNode & Record<string, any>

const PARSE_OPTIONS: Options = { ecmaVersion: 'latest', allowHashBang: true, allowAwaitOutsideFunction: true, allowReturnOutsideFunction: false }

/** The keys of a head manager's `style` entry that hold the element's text. */
const HEAD_STYLE_TEXT: ReadonlySet<string> = new Set(['innerHTML', 'textContent', 'children'])

/** A stand-in for a `${…}` part of a template literal: private-use characters no real markup holds. */
const HOLE = '\uE000csp-seal\uE001'

/** Parses `source` (a module, or else a classic script) and collects the inline styles it can insert. */
export function findRuntimeStyles(source: string): RuntimeStylesResult {
  let ast: Node
  try {
    ast = parse(source, { ...PARSE_OPTIONS, sourceType: 'module' }) as Node
  } catch {
    try {
      ast = parse(source, { ...PARSE_OPTIONS, sourceType: 'script' }) as Node
    } catch (error) {
      return { parsed: false, message: (error as Error).message }
    }
  }
  const found: RuntimeStyles = { styles: new Set(), styleAttributes: new Set(), angularComponentStyles: false }
  const scopes = new Scopes()
  // First pass: bindings (to resolve `const` strings) and the names bound to new style elements.
  ancestor(ast, {
    VariableDeclaration(node: Node, _state: unknown, ancestors: Node[]) {
      const holder = node.kind === 'var' ? functionScope(ancestors) : blockScope(ancestors)
      for (const declarator of node.declarations as Node[]) {
        if (declarator.id.type !== 'Identifier') {
          for (const name of patternNames(declarator.id)) scopes.declare(holder, name, undefined)
          continue
        }
        const value = node.kind === 'const' && declarator.init ? staticString(declarator.init) : undefined
        scopes.declare(holder, declarator.id.name, value)
        if (declarator.init && isStyleElementCreation(declarator.init)) scopes.markStyleElement(functionScope(ancestors), declarator.id.name)
      }
    },
    AssignmentExpression(node: Node, _state: unknown, ancestors: Node[]) {
      if (node.left.type === 'Identifier' && isStyleElementCreation(node.right)) scopes.markStyleElement(functionScope(ancestors), node.left.name)
    },
    Function(node: Node, _state: unknown, ancestors: Node[]) {
      for (const param of node.params as Node[]) for (const name of patternNames(param)) scopes.declare(node, name, undefined)
      if (node.type === 'FunctionDeclaration' && node.id) scopes.declare(blockScope(ancestors), node.id.name, undefined)
    },
    CatchClause(node: Node) {
      if (node.param) for (const name of patternNames(node.param)) scopes.declare(node, name, undefined)
    },
    Class(node: Node, _state: unknown, ancestors: Node[]) {
      if (node.type === 'ClassDeclaration' && node.id) scopes.declare(blockScope(ancestors), node.id.name, undefined)
    },
  } as unknown as AncestorVisitors<unknown>)
  const resolve = (node: Node, ancestors: readonly Node[]): string | undefined => {
    const literal = staticString(node)
    if (literal !== undefined) return literal
    if (node.type === 'Identifier') return scopes.constString(node.name, ancestors)
    if (node.type === 'BinaryExpression' && node.operator === '+') {
      const left = resolve(node.left, ancestors)
      const right = left === undefined ? undefined : resolve(node.right, ancestors)
      return left !== undefined && right !== undefined ? left + right : undefined
    }
    return undefined
  }
  const isStyleElement = (node: Node, ancestors: readonly Node[]): boolean =>
    isStyleElementCreation(node) || (node.type === 'Identifier' && scopes.isStyleElement(node.name, ancestors))
  // Second pass: markup in strings, style attributes set by name, texts given to style elements.
  ancestor(ast, {
    Literal(node: Node) {
      if (typeof node.value === 'string') collectMarkup(node.value, found)
    },
    TemplateLiteral(node: Node) {
      const parts = (node.quasis as Node[]).map((quasi) => quasi.value.cooked as string | null | undefined)
      if (parts.some((part) => part == null)) return
      collectMarkup(parts.join(HOLE), found)
    },
    Property(node: Node, _state: unknown, ancestors: Node[]) {
      const name = propertyName(node)
      if (node.value.type !== 'ArrayExpression') return
      const elements = (node.value.elements as Array<Node | null>).filter((element): element is Node => element !== null)
      // Angular's compiled component: `styles: ["…[_ngcontent-%COMP%]…"]`.
      if (!found.angularComponentStyles && name === 'styles') {
        found.angularComponentStyles = elements.some((element) => (staticString(element) ?? '').includes('%COMP%'))
      }
      // A head manager's <style> entries (unhead, which Nuxt's and Vue's useHead use): `style: [{ innerHTML: '…' }]`.
      if (name === 'style') {
        for (const element of elements) {
          if (element.type !== 'ObjectExpression') continue
          for (const entry of element.properties as Node[]) {
            if (entry.type !== 'Property' || !HEAD_STYLE_TEXT.has(propertyName(entry) ?? '')) continue
            const text = resolve(entry.value, ancestors)
            if (text !== undefined) found.styles.add(text)
          }
        }
      }
    },
    AssignmentExpression(node: Node, _state: unknown, ancestors: Node[]) {
      const target = node.left
      if (node.operator !== '=' || target.type !== 'MemberExpression') return
      const property = memberName(target)
      if ((property === 'textContent' || property === 'innerHTML') && isStyleElement(target.object, ancestors)) {
        const text = resolve(node.right, ancestors)
        if (text !== undefined) found.styles.add(text)
      }
    },
    CallExpression(node: Node, _state: unknown, ancestors: Node[]) {
      const callee = node.callee
      if (callee.type !== 'MemberExpression') return
      const method = memberName(callee)
      const args = node.arguments as Node[]
      if (method === 'setAttribute' && args.length >= 2) {
        // setAttribute lowercases the name on HTML elements: `Style` is the style attribute too.
        if (resolve(args[0]!, ancestors)?.toLowerCase() === 'style') {
          const value = resolve(args[1]!, ancestors)
          if (value !== undefined) found.styleAttributes.add(value)
        }
      } else if ((method === 'appendChild' || method === 'append') && isStyleElement(callee.object, ancestors)) {
        for (const arg of method === 'append' ? args : args.slice(0, 1)) {
          const text =
            arg.type === 'CallExpression' && arg.callee.type === 'MemberExpression' && memberName(arg.callee) === 'createTextNode' && arg.arguments.length >= 1
              ? resolve(arg.arguments[0], ancestors)
              : method === 'append'
                ? resolve(arg, ancestors)
                : undefined
          if (text !== undefined) found.styles.add(text)
        }
      } else if (
        method === 'assign' &&
        callee.object.type === 'Identifier' &&
        callee.object.name === 'Object' &&
        args.length >= 2 &&
        isStyleElementCreation(args[0]!)
      ) {
        for (const source of args.slice(1)) {
          if (source.type !== 'ObjectExpression') continue
          for (const property of source.properties as Node[]) {
            const name = property.type === 'Property' ? propertyName(property) : undefined
            if (name === 'textContent' || name === 'innerHTML') {
              const text = resolve(property.value, ancestors)
              if (text !== undefined) found.styles.add(text)
            }
          }
        }
      }
    },
  } as unknown as AncestorVisitors<unknown>)
  return { parsed: true, ...found }
}

/** Markup quickly ruled out: no tag, or no `style` (attribute or element) in any letter case. */
function mayHoldStyles(text: string): boolean {
  return text.includes('<') && /style/i.test(text)
}

type Element = DefaultTreeAdapterMap['element']
type ParentNode = DefaultTreeAdapterMap['parentNode']

/** Parses `text` as an HTML fragment (as `innerHTML` does) and takes its style attributes and style texts that hold no hole. */
function collectMarkup(text: string, found: RuntimeStyles): void {
  if (!mayHoldStyles(text)) return
  const fragment = parseFragment(text, { sourceCodeLocationInfo: true })
  const stack: ParentNode[] = [fragment]
  while (stack.length) {
    const parent = stack.pop()!
    for (const child of parent.childNodes) {
      if (!('tagName' in child)) continue
      const element = child as Element
      for (const attribute of element.attrs) {
        if (attribute.name === 'style' && !attribute.prefix && !attribute.value.includes(HOLE)) found.styleAttributes.add(attribute.value)
      }
      // A `<style>` the string does not close is continued by code (`'<style>' + css + '</style>'`): its text is not here.
      if (element.tagName === 'style' && element.sourceCodeLocation?.endTag) {
        const styleText = element.childNodes.map((node) => ('value' in node && node.nodeName === '#text' ? node.value : '')).join('')
        if (!styleText.includes(HOLE)) found.styles.add(styleText)
      }
      if (element.tagName === 'template') stack.push((element as DefaultTreeAdapterMap['template']).content)
      stack.push(element)
    }
  }
}

/** The string a literal spells out: a string literal or a template literal without `${…}`. */
function staticString(node: Node): string | undefined {
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked ?? undefined
  return undefined
}

/** `x.createElement('style')` (any receiver: `document`, `ownerDocument`, a variable holding one). */
function isStyleElementCreation(node: Node): boolean {
  return (
    node.type === 'CallExpression' &&
    node.callee.type === 'MemberExpression' &&
    memberName(node.callee) === 'createElement' &&
    node.arguments.length >= 1 &&
    staticString(node.arguments[0])?.toLowerCase() === 'style'
  )
}

function memberName(member: Node): string | undefined {
  if (!member.computed && member.property.type === 'Identifier') return member.property.name
  if (member.computed) return staticString(member.property)
  return undefined
}

function propertyName(property: Node): string | undefined {
  if (!property.computed && property.key.type === 'Identifier') return property.key.name
  return staticString(property.key)
}

function patternNames(pattern: Node): string[] {
  switch (pattern.type) {
    case 'Identifier':
      return [pattern.name]
    case 'ObjectPattern':
      return (pattern.properties as Node[]).flatMap((p) => patternNames(p.type === 'RestElement' ? p.argument : p.value))
    case 'ArrayPattern':
      return (pattern.elements as Array<Node | null>).flatMap((e) => (e ? patternNames(e) : []))
    case 'RestElement':
      return patternNames(pattern.argument)
    case 'AssignmentPattern':
      return patternNames(pattern.left)
    default:
      return []
  }
}

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'Program', 'StaticBlock'])
const BLOCK_TYPES = new Set([...FUNCTION_TYPES, 'BlockStatement', 'ForStatement', 'ForInStatement', 'ForOfStatement', 'SwitchStatement', 'CatchClause'])

/** The innermost function (or the program) among `ancestors`, the node itself excluded. */
function functionScope(ancestors: readonly Node[]): Node {
  for (let i = ancestors.length - 2; i >= 0; i--) if (FUNCTION_TYPES.has(ancestors[i]!.type)) return ancestors[i]!
  return ancestors[0]!
}

function blockScope(ancestors: readonly Node[]): Node {
  for (let i = ancestors.length - 2; i >= 0; i--) if (BLOCK_TYPES.has(ancestors[i]!.type)) return ancestors[i]!
  return ancestors[0]!
}

/**
 * Names declared in each scope, and the string a `const` holds when it is a literal. A name is resolved by the
 * innermost scope that declares it, as the language does: a parameter or `let` of the same name hides an outer
 * `const`, and a name declared twice in one scope (a `var` redeclared) is not resolved.
 */
class Scopes {
  private readonly declared = new Map<Node, Map<string, string | undefined>>()
  private readonly styleElements = new Map<Node, Set<string>>()

  declare(scope: Node, name: string, value: string | undefined): void {
    let names = this.declared.get(scope)
    if (!names) this.declared.set(scope, (names = new Map()))
    names.set(name, names.has(name) ? undefined : value)
  }

  markStyleElement(scope: Node, name: string): void {
    let names = this.styleElements.get(scope)
    if (!names) this.styleElements.set(scope, (names = new Set()))
    names.add(name)
  }

  constString(name: string, ancestors: readonly Node[]): string | undefined {
    for (let i = ancestors.length - 1; i >= 0; i--) {
      const names = this.declared.get(ancestors[i]!)
      if (names?.has(name)) return names.get(name)
    }
    return undefined
  }

  isStyleElement(name: string, ancestors: readonly Node[]): boolean {
    for (let i = ancestors.length - 1; i >= 0; i--) {
      const names = this.styleElements.get(ancestors[i]!)
      if (names?.has(name)) return true
    }
    return false
  }
}
