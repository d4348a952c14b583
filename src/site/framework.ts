import { closeSync, openSync, readSync } from 'node:fs'
import type { PolicyScope } from '../config.js'
import type { SitePage } from './site-fs.js'

/**
 * Which framework built a site, told from what its build emits (never from the project's sources, which
 * csp-seal does not see): markers its runtime or generator writes into every page. Every rule lives here.
 */
export interface FrameworkDetection {
  /** The framework's name, or undefined when no rule matched. */
  framework?: string
  /** Whether its pages are shown by a client-side router inside the first document loaded. */
  clientRouter: boolean
  /** What was seen, for the summary and the report. */
  evidence: string
}

/** One page's HTML as read for detection. */
export interface PageSample {
  file: string
  html: string
}

interface Rule {
  framework: string
  /** The marker seen in a page, or undefined. */
  match: (html: string) => string | undefined
  /** Whether the build shows a client-side router; given the pages where the rule matched. */
  clientRouter: (html: string) => boolean
}

/** A marker: what the summary calls it, and how it is seen in a page's HTML. */
type Marker = [label: string, test: string | RegExp]

/** The label of the first marker found in `html`, or undefined. */
const has =
  (...markers: Marker[]) =>
  (html: string): string | undefined => {
    for (const [label, test] of markers) if (typeof test === 'string' ? html.includes(test) : test.test(html)) return label
    return undefined
  }
/** Every group must match (a marker of each); the labels joined. */
const all =
  (...groups: Array<(html: string) => string | undefined>) =>
  (html: string): string | undefined => {
    const labels: string[] = []
    for (const group of groups) {
      const label = group(html)
      if (label === undefined) return undefined
      labels.push(label)
    }
    return labels.join(' with ')
  }
const generator = (name: string): Marker => [
  `generator meta "${name}"`,
  new RegExp(`<meta\\s[^>]*name=["']?generator["']?\\s[^>]*content=["']?${name}[\\s"'>]`, 'i'),
]
const always = () => true

/**
 * In order: a page can carry markers of more than one (VitePress pages are Vue apps; an Astro site may hold
 * any framework's islands), so the more specific rule comes first.
 */
const RULES: readonly Rule[] = [
  // VitePress writes its page-hash map into every page and a generator meta; its router renders every page in place.
  { framework: 'VitePress', match: has(['__VP_HASH_MAP__', '__VP_HASH_MAP__'], generator('VitePress')), clientRouter: always },
  // SvelteKit's start script is an inline module that sets a `__sveltekit_…` global and imports from _app/immutable.
  {
    framework: 'SvelteKit',
    match: has(['__sveltekit_ global', /__sveltekit_[a-z0-9]+\s*=/], ['_app/immutable/entry', /["']\/?(?:[^"']*\/)?_app\/immutable\/entry\//]),
    clientRouter: always,
  },
  // Nuxt: its payload global or data attribute, with its build folder.
  {
    framework: 'Nuxt',
    match: all(has(['/_nuxt/', '/_nuxt/']), has(['__NUXT__', '__NUXT__'], ['data-nuxt', 'data-nuxt'], ['#__nuxt', 'id="__nuxt"'])),
    clientRouter: always,
  },
  // Next.js: the App Router streams its flight data through self.__next_f, the Pages Router through __NEXT_DATA__.
  {
    framework: 'Next.js',
    match: all(has(['/_next/static/', '/_next/static/']), has(['self.__next_f', 'self.__next_f'], ['__NEXT_DATA__', 'id="__NEXT_DATA__"'])),
    clientRouter: always,
  },
  // Docusaurus: its root element and generator meta.
  { framework: 'Docusaurus', match: has(['#__docusaurus', /id=["']?__docusaurus["'\s>]/], generator('Docusaurus')), clientRouter: always },
  // Gatsby: its root element.
  { framework: 'Gatsby', match: has(['#___gatsby', /id=["']?___gatsby["'\s>]/]), clientRouter: always },
  // Astro is a multi-page generator; only its ClientRouter (formerly ViewTransitions) swaps pages in place, and
  // that writes the astro-view-transitions-enabled meta into every page.
  {
    framework: 'Astro',
    match: has(generator('Astro'), ['/_astro/ assets', /["'(]\/?(?:[^"'()]*\/)?_astro\//]),
    clientRouter: (html) => html.includes('astro-view-transitions-enabled'),
  },
  // Angular: a prerendered page carries ng-version; a browser build its root component and main bundle. A
  // prerendered page with a <router-outlet> routes on the client; a browser build is one page (see below).
  {
    framework: 'Angular',
    match: has(['ng-version', /\sng-version=/], ['<app-root> with main.js', /<app-root[\s>][\s\S]*\bmain(?:-[A-Z0-9]{8})?\.js\b/]),
    clientRouter: (html) => html.includes('<router-outlet'),
  },
  // Eleventy: a plain multi-page generator.
  { framework: 'Eleventy', match: has(generator('Eleventy')), clientRouter: () => false },
]

/**
 * Detects the framework from a few pages' HTML (see {@link samplePages}). `pageCount` is the number of pages
 * in the site: a build of one page is a single-page app (or a one-page site), where every route is that one
 * document, so the site's policy and the page's are the same, and site scope only widens header rules to
 * every path (deep links).
 */
export function detectFramework(samples: readonly PageSample[], pageCount: number): FrameworkDetection {
  for (const rule of RULES) {
    for (const sample of samples) {
      const marker = rule.match(sample.html)
      if (marker === undefined) continue
      const clientRouter = pageCount === 1 || rule.clientRouter(sample.html)
      return { framework: rule.framework, clientRouter, evidence: `${marker} in ${sample.file}` }
    }
  }
  if (pageCount === 1) return { clientRouter: true, evidence: `one page (${samples[0]?.file ?? 'the only page'}): a single-page build` }
  return { clientRouter: false, evidence: `no framework marker in ${samples.map((s) => s.file).join(', ')}` }
}

/** The scope a run seals with: the configured one, or for `'auto'` site scope exactly when pages are shown by a client-side router. */
export function chooseScope(configured: PolicyScope, detection: FrameworkDetection): 'page' | 'site' {
  if (configured !== 'auto') return configured
  return detection.clientRouter ? 'site' : 'page'
}

/** Pages read for detection: the home page first, then the first few others in path order. */
const SAMPLED_PAGES = 4
/** Bytes read of each: markers sit in <head> or right after the app root. */
const SAMPLED_BYTES = 256 * 1024

/**
 * The HTML of a few of the site's pages (`pages` in path order), the start of each: detection stays cheap at
 * any size of site. A page that cannot be read is left out (sealing it reports the problem).
 */
export function samplePages(pages: readonly SitePage[]): PageSample[] {
  const home = pages.filter((page) => /^index\.html?$/i.test(page.file))
  const chosen = [...home, ...pages.filter((page) => !home.includes(page))].slice(0, SAMPLED_PAGES)
  const samples: PageSample[] = []
  for (const page of chosen) {
    try {
      const fd = openSync(page.path, 'r')
      try {
        const buffer = Buffer.alloc(SAMPLED_BYTES)
        const read = readSync(fd, buffer, 0, SAMPLED_BYTES, 0)
        samples.push({ file: page.file, html: buffer.subarray(0, read).toString('utf8') })
      } finally {
        closeSync(fd)
      }
    } catch {
      // Reported when the page is sealed.
    }
  }
  return samples
}
