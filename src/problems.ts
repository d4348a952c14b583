/** A located finding: what is wrong, where, and how to fix it. Warnings and errors share this shape. */
export interface Problem {
  /** Stable identifier of the kind of problem, e.g. `event-handler`, `missing-asset`. */
  code: string
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
  EACCES: { what: 'permission denied', fix: 'run csp-seal as a user who may read and write the site folder (e.g. the user that built it), or fix the permissions' },
  EPERM: { what: 'operation not permitted', fix: 'check the permissions and attributes of the file and its folder (an immutable file, a folder owned by another user)' },
  ENOSPC: { what: 'no space left on the device', fix: 'free some space, then run again' },
  EDQUOT: { what: 'the disk quota is exceeded', fix: 'free some space or raise the quota, then run again' },
  EROFS: { what: 'the file system is read-only', fix: 'seal a writable copy of the folder, or mount it read-write' },
  ELOOP: { what: 'too many symbolic links (a link loop), or a link where a real file was expected', fix: 'remove the looping link, and make sure nothing changes the folder while csp-seal runs' },
  EMFILE: { what: 'too many open files', fix: 'raise the open file limit (ulimit -n), then run again' },
  ENFILE: { what: 'too many open files on the system', fix: 'close other programs or raise the system limit, then run again' },
  ENOENT: { what: 'no such file or folder (was it removed while csp-seal ran?)', fix: 'make sure nothing changes the folder while csp-seal runs, then run again' },
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
