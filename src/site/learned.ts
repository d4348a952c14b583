import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import type { ExtraHashes, InlineDirective } from '../csp/inline.js'
import { SealError } from '../problems.js'

/** The file `csp-seal crawl --learn` writes and a sealing run reads, by default in the current folder. */
export const LEARNED_FILE = 'csp-seal.learned.json'
export const LEARNED_VERSION = 1

/** Where and how a crawl saw a hash: the page, the clicks that led there, and whether a payload was injected first. */
export interface LearnedSighting {
  /** The page's URL path (as the crawl reached it; after client navigations, the path shown in the address bar). */
  page: string
  /** How the crawl got there: the page it opened, then each click. */
  path: string[]
  /** `load` (the page as opened), `click` (after a link or toggle was clicked). */
  how: 'load' | 'click'
  /** True when the code appeared only after the crawl injected a payload. The crawl never injects: always false. */
  injected: boolean
}

/** One hash of inline code the site adds at run time, with every place it was seen. */
export interface LearnedHash {
  hash: string
  directive: InlineDirective
  /** The start of the code, as the browser reported it (for review; may be empty). */
  sample?: string
  seen: LearnedSighting[]
}

export interface LearnedFile {
  version: number
  note?: string
  hashes: LearnedHash[]
}

/** What a sealing run takes from the learned file: hashes for every page, and how many of each kind. */
export interface LearnedHashes {
  file: string
  extra: ExtraHashes
  styles: number
  scripts: number
  /** Script hashes in the file that were not used (`learned.scripts` is off). */
  scriptsLeftOut: number
}

const DIRECTIVES: readonly InlineDirective[] = ['script-src-elem', 'script-src-attr', 'style-src-elem', 'style-src-attr']
const HASH = /^'sha(256|384|512)-[A-Za-z0-9+/_-]+={0,2}'$/

/** Parses a learned file, refusing anything that is not one (the problem names the file and the entry). */
export function parseLearned(text: string, file: string): LearnedFile {
  const fail = (message: string): never => {
    throw new SealError([{ code: 'invalid-learned', file, message, fix: `run csp-seal crawl --learn again to rewrite ${file}, or correct it by hand` }])
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`)
  }
  const learned = data as Partial<LearnedFile> | null
  if (!learned || typeof learned !== 'object' || learned.version !== LEARNED_VERSION || !Array.isArray(learned.hashes)) {
    return fail(`not a csp-seal learned file of version ${LEARNED_VERSION}`)
  }
  learned.hashes.forEach((entry, i) => {
    if (!entry || typeof entry.hash !== 'string' || !HASH.test(entry.hash))
      fail(`entry ${i + 1}: hash must be a quoted hash source like 'sha256-…', not ${JSON.stringify(entry?.hash)}`)
    if (!DIRECTIVES.includes(entry.directive))
      fail(`entry ${i + 1} (${entry.hash}): directive must be one of ${DIRECTIVES.join(', ')}, not ${JSON.stringify(entry.directive)}`)
    if (!Array.isArray(entry.seen)) fail(`entry ${i + 1} (${entry.hash}): seen must be a list of where the crawl saw it`)
  })
  return learned as LearnedFile
}

/**
 * The learned hashes a sealing run adds, per the config's `learned` option: style hashes always; script hashes only
 * with `learned.scripts: true`, and never one the crawl saw only after an injected payload. No file (and none named
 * in the config) means nothing learned.
 */
export function readLearnedHashes(config: Pick<ResolvedConfig, 'learned'>, cwd = process.cwd()): LearnedHashes | undefined {
  const { learned } = config
  if (!learned) return undefined
  const file = resolve(cwd, learned.file ?? LEARNED_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && learned.file === undefined) return undefined
    throw new SealError([
      {
        code: 'invalid-learned',
        file,
        message: `cannot read the learned file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        fix: 'run csp-seal crawl --learn to write it, or correct learned.file',
      },
    ])
  }
  return learnedHashes(parseLearned(text, file), file, learned.scripts)
}

export function learnedHashes(learned: LearnedFile, file: string, scripts: boolean): LearnedHashes {
  const extra = { scripts: [] as string[], styles: [] as string[], scriptAttributes: [] as string[], styleAttributes: [] as string[] }
  let styleCount = 0
  let scriptCount = 0
  let scriptsLeftOut = 0
  for (const entry of learned.hashes) {
    if (entry.directive.startsWith('style')) {
      ;(entry.directive === 'style-src-elem' ? extra.styles : extra.styleAttributes).push(entry.hash)
      styleCount++
      continue
    }
    // Code seen only after an injected payload is the attack, not the site.
    const seenClean = entry.seen.some((sighting) => sighting && sighting.injected === false)
    if (!scripts || !seenClean) {
      scriptsLeftOut++
      continue
    }
    ;(entry.directive === 'script-src-elem' ? extra.scripts : extra.scriptAttributes).push(entry.hash)
    scriptCount++
  }
  return { file, extra, styles: styleCount, scripts: scriptCount, scriptsLeftOut }
}
