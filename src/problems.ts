/**
 * Every problem code a user can see, with what it means in one line. The codes are a stable interface (reports,
 * `--json`, the plugins' messages), so they live here, typed: a code that is not listed is a type error.
 * docs/reference.md's table of problem codes lists exactly these (test/problem-codes.test.ts checks it).
 */
export const PROBLEM_CODES = {
  // Configuration and command line
  usage: 'a flag or --out folder that cannot be used',
  'invalid-config': 'an option with a wrong value or an unknown name',
  'config-syntax': 'the config file does not parse',
  'config-load': 'the config file failed when run, or does not export an object',
  'invalid-policy': 'a directive or source that is not valid CSP, or a literal nonce',
  evaluator: "a high-severity finding of Google's CSP Evaluator on the policy",
  // The site folder
  'no-site': 'the folder does not exist',
  'no-pages': 'the folder holds no .html/.htm page, or every page is excluded',
  'site-locked': 'another run of csp-seal is sealing the same folder',
  'stale-lock': 'a run of csp-seal ended without releasing the folder; this run took over',
  'not-a-file': "a file with a page's name (or one csp-seal writes) that is not a regular file",
  'page-too-large': 'a page over maxPageBytes',
  'page-alias': 'a page that is the same file as another page, through a symbolic link',
  'linked-folder': 'a symbolic link to a folder of the site: its pages are sealed once, under their own paths',
  'link-loop': 'a symbolic link that loops',
  'outside-site': 'a URL or a symbolic link that leads outside the site folder',
  'file-system': 'the file system refused a read',
  'write-failed': 'the file system refused a write; nothing was changed',
  drift: 'a page or file changed while, or after, csp-seal wrote it',
  'internal-error': 'a defect of csp-seal met while sealing a page',
  // A page
  'not-utf8': 'a page that is not valid UTF-8',
  charset: 'a page that declares a charset other than UTF-8',
  'charset-added': 'a page that declared no charset: csp-seal added <meta charset="utf-8">',
  'charset-missing': 'a page with no charset and non-ASCII text, whose <head> starts too late for a charset meta',
  'event-handler': 'an inline event handler, blocked by the policy',
  'javascript-url': 'a javascript: URL, blocked by the policy',
  'template-code': 'scripts or styles inside <template>',
  'report-only-meta': 'a report-only policy meta in the page, which browsers ignore',
  'page-policy-kept': "the page has a policy meta of its own, kept and enforced next to csp-seal's",
  'page-policy-enforced': "reportOnly applies to csp-seal's policy only: the page's own policy meta stays enforced",
  'meta-ignored-directive': "the page's own policy meta sets directives that browsers ignore in a meta tag",
  'blocked-by-page-policy': "inline code the page's own policy meta blocks: it gets no hash",
  'header-only-directive': 'a directive a meta tag cannot carry, with no header file to carry it',
  'unsafe-inline-kept': "'unsafe-inline' kept where it weakens the policy",
  'stylesheet-not-allowed': "the policy does not allow the page's stylesheets",
  'strict-dynamic-import': "a module an inline module imports, which 'strict-dynamic' blocks",
  'blocked-resource': "a URL the page names (image, media, frame, font, form target…) that the page's final policy blocks",
  // Scripts the site holds (runtimeStyles)
  'script-not-read': 'a script runtimeStyles could not read or parse: the styles it inserts are not allowed',
  'angular-runtime-styles': 'Angular component styles, inserted at run time with ids computed in the browser',
  // The learned file (csp-seal crawl --learn), read by sealing runs and the crawl
  'invalid-learned': 'a learned file that cannot be read, or is not one',
  // csp-seal crawl
  'csp-violation': 'a CSP violation Chromium reported while the crawl opened a page or clicked',
  'js-error': 'an uncaught JavaScript error on a page the crawl opened',
  'learned-stale': 'a learned hash the crawl no longer saw on any page',
  'no-browser': 'no Chrome, Chromium or Edge found, or --browser names no file',
  'no-driver': 'playwright-core, which drives the browser, is not installed',
  // Scripts and stylesheets the page loads
  'missing-asset': 'a local script or stylesheet that is not in the folder',
  'asset-too-large': 'a local script or stylesheet over maxPageBytes',
  'asset-not-a-file': 'a local script or stylesheet that is not a regular file',
  'asset-unreadable': 'a local script or stylesheet that cannot be read',
  'integrity-mismatch': 'an integrity already in the page that does not match the file',
  'unsupported-url': 'a URL csp-seal cannot resolve, or on a host no policy can name exactly',
  'script-origin': 'scripts from another origin that must be allowed by origin',
  'svg-script-origin': 'an SVG <script href> from another origin, allowed by origin',
  'remote-http': 'a CDN file loaded over plain HTTP',
  'remote-fetch': 'a CDN file that cannot be fetched',
  'remote-changed': 'a CDN file that no longer matches the lock file',
  'remote-without-integrity': 'a CDN file loaded without integrity',
  'remote-unverified': 'a CDN file csp-seal could not verify as usual',
  'remote-no-cors': 'a CDN file served without CORS, which browsers refuse with integrity',
  'invalid-lock': 'a lock file that cannot be read',
  // Header files
  'invalid-vercel-json': 'an existing vercel.json that is not valid JSON',
  'nginx-dollar': 'a value nginx would read as a variable',
  'unsafe-route': 'a page a header file cannot name safely',
  'header-file-too-large': 'a header file with more rules than a host reads',
  'site-policy-large': 'a site-scope policy too large for a header',
  // --check, and the plugins' checks after sealing
  'hash-drift': 'inline code that changed after sealing',
  'integrity-drift': 'a file whose integrity no longer matches',
  unsealed: 'a page that was never sealed, or that sealing would change',
  'stale-output': 'a file csp-seal writes that differs from what it would write now',
  'missing-page': 'a sealed page that was not written',
  'missing-file': 'a file csp-seal emitted that is not in the output folder',
  // Both plugins, and the framework entry points
  'sealed-nothing': 'a build that emitted no page: nothing was sealed',
  'framework-html': 'a framework that writes its pages after the bundle: the plugin cannot seal them',
  // Vite plugin
  'vite-version': 'Vite older than 7',
  'runtime-chunks-blocked': 'chunks a page loads at run time that its policy blocks',
  'runtime-chunks-nonce': 'run-time chunks that load only when served with a nonce',
  'runtime-chunks-origin': 'run-time chunks that must be allowed by an origin you wrote',
  'runtime-chunks-reported': 'run-time chunks a report-only policy reports',
  'plugin-legacy': "@vitejs/plugin-legacy's data: import and <style> injection under a strict policy",
  'vite-csp-nonce': "Vite's html.cspNonce writes a fixed nonce into public files",
  // webpack plugin
  internal: 'sealing failed in the webpack plugin: a defect of csp-seal',
  'eval-devtool': "devtool uses eval() and the policy has no 'unsafe-eval'",
  'style-loader': 'style-loader <style> tags and a policy that blocks them',
  'lazy-chunks-blocked': "the policy allows lazy chunks neither by 'self' nor 'strict-dynamic'",
  'lazy-chunk-integrity': 'lazy chunks load without integrity',
  'cross-origin-loading': 'lazy chunks with integrity from another origin, without output.crossOriginLoading',
  'remote-public-path': 'output.publicPath is a full URL',
} as const satisfies Record<string, string>

/** A code of {@link PROBLEM_CODES}. */
export type ProblemCode = keyof typeof PROBLEM_CODES

/** A located finding: what is wrong, where, and how to fix it. Warnings and errors share this shape. */
export interface Problem {
  /** Stable identifier of the kind of problem, e.g. `event-handler`, `missing-asset`: one of {@link PROBLEM_CODES}. */
  code: ProblemCode
  message: string
  /** Page or file the problem is in (site-relative, posix), when there is one. */
  file?: string
  line?: number
  column?: number
  /** The start tag (or value) concerned, shortened for display. */
  element?: string
  fix?: string
}

/** Thrown when sealing cannot go on; carries every problem found, not just the first. */
export class SealError extends Error {
  readonly problems: Problem[]
  constructor(problems: Problem[]) {
    super(problems.map(formatProblem).join('\n'))
    this.name = 'SealError'
    this.problems = problems
  }
}

export function formatProblem(p: Problem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}: ` : ''
  const element = p.element ? ` (${p.element})` : ''
  const fix = p.fix ? `\n  fix: ${p.fix}` : ''
  return `${where}${p.message}${element}${fix}`
}

/** Shortens an element's source for messages, keeping the start of the tag. */
export function excerpt(source: string, max = 80): string {
  const flat = source.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** What a file system error code means, and what the user can do about it. */
const FILE_SYSTEM_ERRORS: Record<string, { what: string; fix: string }> = {
  EACCES: {
    what: 'permission denied',
    fix: 'run csp-seal as a user who may read and write the site folder (e.g. the user that built it), or fix the permissions',
  },
  EPERM: {
    what: 'operation not permitted',
    fix: 'check the permissions and attributes of the file and its folder (an immutable file, a folder owned by another user)',
  },
  ENOSPC: { what: 'no space left on the device', fix: 'free some space, then run again' },
  EDQUOT: { what: 'the disk quota is exceeded', fix: 'free some space or raise the quota, then run again' },
  EROFS: { what: 'the file system is read-only', fix: 'seal a writable copy of the folder, or mount it read-write' },
  ELOOP: {
    what: 'too many symbolic links (a link loop), or a link where a real file was expected',
    fix: 'remove the looping link, and make sure nothing changes the folder while csp-seal runs',
  },
  EMFILE: { what: 'too many open files', fix: 'raise the open file limit (ulimit -n), then run again' },
  ENFILE: { what: 'too many open files on the system', fix: 'close other programs or raise the system limit, then run again' },
  ENOENT: {
    what: 'no such file or folder (was it removed while csp-seal ran?)',
    fix: 'make sure nothing changes the folder while csp-seal runs, then run again',
  },
  ENOTDIR: { what: 'a part of the path is not a folder', fix: 'make sure nothing changes the folder while csp-seal runs, then run again' },
  EISDIR: { what: 'it is a folder', fix: 'rename the folder or the file so that they do not clash' },
  ENAMETOOLONG: { what: 'the path is too long', fix: 'shorten the file or folder names' },
  EIO: { what: 'an input/output error (a failing disk or network file system)', fix: 'check the disk or the mount, then run again' },
  EBUSY: { what: 'the file is busy', fix: 'close the program that holds it, then run again' },
  EXDEV: { what: 'the file is on another file system than the site folder', fix: 'keep the site folder on one file system' },
}

/** What a file system error (an `Error` with an errno `code`) means, e.g. "permission denied (EACCES)"; undefined for any other error. */
export function describeFileSystemError(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (!(error instanceof Error) || typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return undefined
  return `${FILE_SYSTEM_ERRORS[code]?.what ?? error.message} (${code})`
}

/**
 * A file system error as a problem naming the file and the fix, so that no raw stack trace reaches the user;
 * undefined for anything else (a bug, which should surface as one). `doing` says what csp-seal was doing, e.g.
 * "reading the page".
 */
export function fileSystemProblem(error: unknown, file: string | undefined, doing: string): Problem | undefined {
  const what = describeFileSystemError(error)
  if (what === undefined) return undefined
  const code = (error as NodeJS.ErrnoException).code!
  return {
    code: 'file-system',
    message: `${doing} failed: ${what}`,
    ...(file ? { file } : {}),
    fix: FILE_SYSTEM_ERRORS[code]?.fix ?? 'check the file and its folder, then run again',
  }
}
