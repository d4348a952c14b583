import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import { cspHash } from '../csp/hash.js'
import type { ExtraHashes } from '../csp/inline.js'
import { findRuntimeStyles } from '../js/styles.js'
import { describeFileSystemError, type Problem } from '../problems.js'
import { readRegularFile, RefusedFile } from '../safe-fs.js'
import { skipped } from './site-fs.js'

/** What reading the site's scripts found: hashes for every page, how many, and what could not be done. */
export interface SiteRuntimeStyles {
  extraHashes: ExtraHashes
  counts: RuntimeStyleCounts
  warnings: Problem[]
}

export interface RuntimeStyleCounts {
  /** Scripts read. */
  files: number
  /** Distinct `<style>` texts and `style` attribute values found in them. */
  styles: number
  styleAttributes: number
}

/** The site's JavaScript files: classic scripts, modules and CommonJS (service workers and workers included). */
const SCRIPT_NAME = /\.(?:m|c)?js$/i

export function isScriptFile(name: string): boolean {
  return SCRIPT_NAME.test(name)
}

/**
 * Reads every JavaScript file of the site once (regular files in the site's own folders: a symbolic link is not
 * followed, so nothing outside the site is read and no file is read twice; none over `maxPageBytes`) and finds
 * the inline styles it can insert at run time ({@link runtimeStylesOf}).
 */
export function siteRuntimeStyles(root: string, config: ResolvedConfig): SiteRuntimeStyles {
  return runtimeStylesOf(
    siteScripts(root).map((file) => ({ file, read: () => readRegularFile(join(root, file), config.maxPageBytes).toString('utf8') })),
    config,
  )
}

/** A script of the site or of a bundle: its path and how to read its text (reading may throw). */
export interface ScriptSource {
  file: string
  read(): string
}

/**
 * The inline styles the given scripts can insert at run time ({@link findRuntimeStyles}). Their hashes go on
 * every page: any page can load the script. A script that cannot be read or parsed, and Angular's run-time
 * component styles, whose text only exists in the browser, are warned about.
 */
export function runtimeStylesOf(scripts: Iterable<ScriptSource>, config: ResolvedConfig): SiteRuntimeStyles {
  const styles = new Set<string>()
  const styleAttributes = new Set<string>()
  const warnings: Problem[] = []
  const angular: string[] = []
  let files = 0
  for (const { file, read } of scripts) {
    let source: string
    try {
      source = read()
    } catch (error) {
      const why = error instanceof RefusedFile ? error.message : `cannot be read: ${describeFileSystemError(error) ?? String(error)}`
      warnings.push({
        code: 'script-not-read',
        file,
        message: `${why}; the inline styles it inserts at run time are not allowed`,
        fix:
          error instanceof RefusedFile && error.reason === 'too-large'
            ? 'raise maxPageBytes, or allow its styles in your policy'
            : 'make the file readable, or allow its styles in your policy',
      })
      continue
    }
    files++
    const found = findRuntimeStyles(source)
    if (!found.parsed) {
      warnings.push({
        code: 'script-not-read',
        file,
        message: `is not JavaScript csp-seal can parse (${found.message}); the inline styles it inserts at run time are not allowed`,
        fix: 'if browsers run it, allow its styles in your policy; if it is not a script, rename it',
      })
      continue
    }
    for (const text of found.styles) styles.add(text)
    for (const value of found.styleAttributes) styleAttributes.add(value)
    if (found.angularComponentStyles) angular.push(file)
  }
  if (angular.length) warnings.push(angularWarning(angular))
  const hashes = (texts: Set<string>) => [...new Set([...texts].map((text) => cspHash(text, config.hashAlgorithm)))].sort()
  return {
    extraHashes: { styles: hashes(styles), styleAttributes: hashes(styleAttributes) },
    counts: { files, styles: styles.size, styleAttributes: styleAttributes.size },
    warnings,
  }
}

/** Site-relative paths of the site's JavaScript files (symbolic links not followed), in a stable order. */
export function siteScripts(root: string): string[] {
  const found: string[] = []
  const stack = ['']
  while (stack.length) {
    const prefix = stack.pop()!
    for (const entry of readdirSync(prefix ? join(root, prefix) : root, { withFileTypes: true })) {
      const file = prefix ? `${prefix}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (!skipped(entry.name)) stack.push(file)
      } else if (entry.isFile() && isScriptFile(entry.name)) {
        found.push(file)
      }
    }
  }
  return found.sort()
}

/**
 * Angular emulates style scoping by rewriting each component's CSS in the browser: `%COMP%` becomes
 * `_ngcontent-ng-c<id>`, where the id is a hash Angular computes at run time from the component's definition
 * (including its class's prototype), and it then inserts the CSS as a `<style>` element. The final text is not in
 * the build, so no hash computed here can match it: the only honest answer is to say so, with the ways out.
 */
function angularWarning(files: string[]): Problem {
  return {
    code: 'angular-runtime-styles',
    file: files[0],
    message: `holds Angular component styles${files.length > 1 ? ` (as do ${files.slice(1).join(', ')})` : ''}: Angular inserts them as <style> elements at run time, with scoping ids it computes in the browser, so their text is not in the build and no hash can allow them; the policy blocks them and the components lose their styles`,
    fix: "serve the site with nonces (csp-seal serve --nonce, or csp-seal/server with nonce: true): csp-seal gives the app's root element an ngCspNonce slot that the server fills with each response's nonce, which Angular puts on the styles it inserts; or, weaker, give style-src-elem 'unsafe-inline' in your policy",
  }
}
