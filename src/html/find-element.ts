import { parse } from 'parse5'
import type { DefaultTreeAdapterMap } from 'parse5'

type Node = DefaultTreeAdapterMap['node']
type Element = DefaultTreeAdapterMap['element']

const HTML_NS = 'http://www.w3.org/1999/xhtml'

/**
 * The offset right after the tag name of the first element of the document (in tree order, outside `<template>`
 * content) whose name is one of `names`, or undefined. For the few pages that need it (an app's root element), so it
 * walks parse5's tree rather than burdening every scan.
 */
export function elementNameEnd(html: string, names: ReadonlySet<string>): number | undefined {
  if (names.size === 0) return undefined
  const document = parse(html, { sourceCodeLocationInfo: true })
  const stack: Node[] = [...document.childNodes].reverse()
  while (stack.length) {
    const node = stack.pop()!
    if (!('tagName' in node)) continue
    const element = node as Element
    if (element.namespaceURI === HTML_NS && names.has(element.tagName)) {
      const start = element.sourceCodeLocation?.startTag?.startOffset
      // Only a tag written in the page (not one the parser made up) can take an attribute.
      if (start !== undefined && html.slice(start + 1, start + 1 + element.tagName.length).toLowerCase() === element.tagName)
        return start + 1 + element.tagName.length
      return undefined
    }
    if (element.tagName === 'template' || element.tagName === 'noscript') continue
    for (let i = element.childNodes.length - 1; i >= 0; i--) stack.push(element.childNodes[i]!)
  }
  return undefined
}
