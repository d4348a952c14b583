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
