/**
 * How a URL path maps to a file of the site: one rule for csp-seal's server runtime, the header files and the
 * nginx include, modelled on Netlify's and Cloudflare Pages' clean URLs (nginx:
 * `try_files $uri $uri.html $uri/index.html`, plus the redirects the include writes):
 *
 * | URL    | answer                                                                                 |
 * | ------ | -------------------------------------------------------------------------------------- |
 * | `/x`   | the file `x`; else `x.html`; else a redirect to `/x/` when `x/index.html` exists         |
 * | `/x/`  | `x/index.html`; else a redirect to `/x` when `x.html` exists                             |
 * | `/`    | `index.html`                                                                           |
 *
 * So a Next.js export (`about.html` next to an `about/` folder) answers `/about` with `about.html`, and a
 * Docusaurus build (`docs/intro/index.html`, linked as `/docs/intro`) redirects `/docs/intro` to `/docs/intro/`.
 * Paths here are site-relative and decoded: no base, no leading slash (`''` is the root).
 */

/** One step of the rule: when `file` exists, serve it, or redirect to `redirect` if the step has one. */
export interface Step {
  file: string
  redirect?: string
}

export type Resolution = { file: string } | { redirect: string }

/** The steps for a URL path, in order; the first whose file exists decides. */
export function resolutionSteps(path: string): Step[] {
  if (path === '' || path.endsWith('/')) {
    const steps: Step[] = [{ file: `${path}index.html` }]
    if (path !== '') steps.push({ file: `${path.slice(0, -1)}.html`, redirect: path.slice(0, -1) })
    return steps
  }
  return [{ file: path }, { file: `${path}.html` }, { file: `${path}/index.html`, redirect: `${path}/` }]
}

/** The rule applied to a set of files known at once (the pages of a manifest). */
export function resolveIn(path: string, isFile: (file: string) => boolean): Resolution | undefined {
  for (const step of resolutionSteps(path)) {
    if (isFile(step.file)) return step.redirect === undefined ? { file: step.file } : { redirect: step.redirect }
  }
  return undefined
}

/**
 * Every URL path (with `base`) at which some common static host answers with `file`, among `pages` (the
 * site's pages): the file's own path, its clean URL (`/b` for `b.html`, `/a/` for `a/index.html`) and the other
 * slash form (`/b/`, `/a`), which some hosts serve and others redirect. A form that the rule above gives to
 * another page (`/both/` when `both.html` and `both/index.html` both exist) is left to that page.
 */
export function pageRoutes(file: string, base: string, pages: ReadonlySet<string> | readonly string[] = [file]): string[] {
  return routeAnswers(file, base, pages).map((answer) => answer.route)
}

/**
 * {@link pageRoutes} with what the rule answers at each: the page, or (`redirect`, with the base) a redirect to
 * the form the rule prefers, which leads to the page.
 */
export function routeAnswers(file: string, base: string, pages: ReadonlySet<string> | readonly string[] = [file]): Array<{ route: string; redirect?: string }> {
  const known = pages instanceof Set ? pages : new Set(pages)
  const isFile = (candidate: string) => candidate === file || known.has(candidate)
  const answers: Array<{ route: string; redirect?: string }> = []
  for (const form of urlForms(file)) {
    const found = resolveIn(form, isFile)
    if (found === undefined) continue
    if ('file' in found) {
      if (found.file === file) answers.push({ route: base + form })
      continue
    }
    const next = resolveIn(found.redirect, isFile)
    if (next !== undefined && 'file' in next && next.file === file) answers.push({ route: base + form, redirect: base + found.redirect })
  }
  return answers
}

function urlForms(file: string): string[] {
  const index = /(^|\/)index\.html$/.exec(file)
  if (index) {
    const folder = file.slice(0, file.length - 'index.html'.length)
    return folder === '' ? [file, ''] : [file, folder, folder.slice(0, -1)]
  }
  if (file.endsWith('.html')) {
    const stem = file.slice(0, -'.html'.length)
    return [file, stem, `${stem}/`]
  }
  return [file]
}

/**
 * A decoded URL path as a browser sends it: percent-encoded where the URL standard encodes paths (space,
 * quotes, `<>`, non-ASCII), with `%`, `?`, `#`, `\\` and control characters in file names encoded too, so they
 * stay part of the name (a URL parser would end the path at `?` or drop a newline).
 */
export function encodeUrlPath(path: string): string {
  const literal = path.replace(/[%?#\\\u0000-\u0020\u007f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
  return new URL(literal, 'http://host.invalid').pathname
}
