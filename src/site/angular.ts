import { join } from 'node:path'
import { tokenizer, tokTypes } from 'acorn'
import { readRegularFile } from '../safe-fs.js'
import { siteScripts } from './runtime-styles.js'

/**
 * Angular reads the nonce for the `<style>` elements it inserts at run time from an `ngCspNonce` attribute on an
 * element of `<body>` (its `CSP_NONCE` token's default: `document.body.querySelector('[ngCspNonce]')`), set on the
 * app's root element. A build is Angular's when its JavaScript holds that token's code (the string `ngCspNonce`);
 * its components are the element selectors of their compiled definitions (`selectors:[["app-root"]]`), read with
 * a JavaScript tokenizer. The root is the first of these that a page has. The site's scripts are read as
 * `runtimeStyles` reads them (regular files inside the site, none over `maxBytes`); one that cannot be read names
 * no component.
 */
export function angularComponentSelectors(root: string, maxBytes: number): string[] {
  const sources: string[] = []
  let angular = false
  for (const file of siteScripts(root)) {
    let text: string
    try {
      text = readRegularFile(join(root, file), maxBytes).toString('utf8')
    } catch {
      continue
    }
    if (text.includes('ngCspNonce')) angular = true
    if (text.includes('selectors')) sources.push(text)
  }
  if (!angular) return []
  const selectors = new Set<string>()
  for (const source of sources) for (const name of componentSelectors(source)) selectors.add(name)
  return [...selectors].sort()
}

/** Element selectors of compiled component definitions: the tokens `selectors : [ [ "<name>"`. */
export function componentSelectors(source: string): string[] {
  const found: string[] = []
  const window: { type: unknown; value: unknown }[] = []
  try {
    for (const token of tokenizer(source, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true })) {
      window.push({ type: token.type, value: (token as { value?: unknown }).value })
      if (window.length > 5) window.shift()
      if (window.length < 5 || token.type !== tokTypes.string) continue
      const [name, colon, outer, inner] = window
      if (
        name!.type === tokTypes.name &&
        name!.value === 'selectors' &&
        colon!.type === tokTypes.colon &&
        outer!.type === tokTypes.bracketL &&
        inner!.type === tokTypes.bracketL
      ) {
        const selector = String((token as { value?: unknown }).value)
        // A custom element name: what an app's root component is (an attribute selector starts with "").
        if (/^[a-z][a-z0-9._]*-[a-z0-9._-]*$/.test(selector)) found.push(selector)
      }
    }
  } catch {
    // A file the tokenizer cannot read (not JavaScript after all) names no component.
  }
  return found
}
