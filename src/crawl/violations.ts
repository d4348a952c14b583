import type { InlineDirective } from '../csp/inline.js'

/** A `securitypolicyviolation` event as the page reports it. */
export interface ViolationEvent {
  directive: string
  blocked: string
  sample: string
  source?: string
  line?: number
  column?: number
  /** The document's URL when it fired. */
  documentUrl: string
  /** The text of the policy that was violated (the event's originalPolicy). */
  policy?: string
}

/** What Chromium's console says of a CSP block: the kind of inline code and the hash it would need. */
export interface ConsoleCsp {
  inline?: 'style' | 'script' | 'handler'
  hash?: string
}

/** One CSP violation the crawl saw, with where, and how it got there. */
export interface Violation {
  directive: string
  /** `inline`, `eval`, or the blocked URL. */
  blocked: string
  sample: string
  /** For blocked inline code: the hash source Chromium reports it would need. */
  hash?: string
  page: string
  path: string[]
  how: 'load' | 'click'
  source?: string
}

/**
 * Reads a Chromium console message about a CSP block: "Applying inline style violates … Either the 'unsafe-inline'
 * keyword, a hash ('sha256-…'), or a nonce …". Chromium hashes the exact code it blocked, so its hash is the one the
 * policy needs (the event's sample is at most 40 characters, too little to hash). Anything else is undefined.
 */
export function parseConsoleCsp(text: string): ConsoleCsp | undefined {
  if (!/Content Security Policy/.test(text)) return undefined
  const inline = /inline style/i.test(text) ? 'style' : /inline event handler/i.test(text) ? 'handler' : /inline script/i.test(text) ? 'script' : undefined
  const hash = /a hash \('(sha(?:256|384|512)-[A-Za-z0-9+/]+={0,2})'\)/.exec(text)?.[1]
  return { ...(inline ? { inline } : {}), ...(hash ? { hash: `'${hash}'` } : {}) }
}

/** Which console kind an event's directive belongs to, for pairing events with console messages in order. */
export function inlineKindOf(event: Pick<ViolationEvent, 'directive' | 'blocked'>): ConsoleCsp['inline'] {
  if (event.blocked !== 'inline') return undefined
  if (event.directive.startsWith('style')) return 'style'
  return event.directive === 'script-src-attr' ? 'handler' : 'script'
}

/**
 * Pairs inline violation events with the console messages that state their hashes. Chromium logs a message for each
 * blocked piece of inline code, in the order it blocks them, and fires the event for each in the same order; the
 * n-th event of a kind is the n-th message of that kind.
 */
export function pairHashes(events: readonly ViolationEvent[], messages: readonly ConsoleCsp[]): Array<string | undefined> {
  const queues = new Map<string, ConsoleCsp[]>()
  for (const message of messages) {
    if (!message.inline) continue
    const queue = queues.get(message.inline) ?? []
    queue.push(message)
    queues.set(message.inline, queue)
  }
  return events.map((event) => {
    const kind = inlineKindOf(event)
    return kind ? queues.get(kind)?.shift()?.hash : undefined
  })
}

/**
 * Which events to keep so that each blocked action counts once. A page served with its policy both in a header and
 * in its meta tag enforces two policies, and Chromium fires an event for each policy an action violates, one right
 * after the other, alike but for the policy. An event that repeats the last kept one under a policy not yet seen
 * for it is the same action; under a policy already seen, it is the next action. Console messages come one per
 * event too, so pairing hashes happens before this.
 */
export function oncePerAction(events: readonly ViolationEvent[]): boolean[] {
  let action: { key: string; policies: Set<string> } | undefined
  return events.map((event) => {
    const key = JSON.stringify([event.directive, event.blocked, event.sample, event.source, event.line, event.column, event.documentUrl])
    const policy = event.policy ?? ''
    if (action && action.key === key && !action.policies.has(policy)) {
      action.policies.add(policy)
      return false
    }
    action = { key, policies: new Set([policy]) }
    return true
  })
}

export const INLINE_DIRECTIVES: readonly InlineDirective[] = ['script-src-elem', 'script-src-attr', 'style-src-elem', 'style-src-attr']

/** Violations of one kind, listed once with every place. */
export interface ViolationGroup {
  directive: string
  blocked: string
  hash?: string
  sample: string
  count: number
  places: Array<Pick<Violation, 'page' | 'path' | 'how'>>
  fix: string
}

export function groupViolations(violations: readonly Violation[], learnedFile: string): ViolationGroup[] {
  const groups = new Map<string, ViolationGroup>()
  for (const v of violations) {
    const key = `${v.directive}\0${v.hash ?? v.blocked}`
    let group = groups.get(key)
    if (!group) {
      group = {
        directive: v.directive,
        blocked: v.blocked,
        ...(v.hash ? { hash: v.hash } : {}),
        sample: v.sample,
        count: 0,
        places: [],
        fix: fixFor(v, learnedFile),
      }
      groups.set(key, group)
    }
    group.count++
    if (!group.places.some((p) => p.page === v.page && p.path.join('\n') === v.path.join('\n'))) group.places.push({ page: v.page, path: v.path, how: v.how })
  }
  return [...groups.values()]
}

/** What to do about a violation of this kind. */
export function fixFor(v: Pick<Violation, 'directive' | 'blocked' | 'hash'>, learnedFile: string): string {
  if (v.blocked === 'inline') {
    if (v.directive.startsWith('style')) {
      const what = v.directive === 'style-src-attr' ? 'a style attribute the site sets from a string at run time' : 'a <style> the site inserts at run time'
      return v.hash
        ? `${what}: run csp-seal crawl --learn, review ${learnedFile}, commit it and seal again (its hash ${v.hash} goes into ${v.directive})`
        : `${what}, with no hash reported: set the style through element.style (CSSOM), which CSP does not block, or move it to a stylesheet`
    }
    if (v.directive === 'script-src-attr')
      return 'an inline event handler (on…=), in the HTML (the sealing run warned about those) or added at run time: attach it with addEventListener in a script file; if you did not write it, it is an injection the policy stopped'
    return `an inline script inserted at run time: move its code to a script file; if it is the site's own and must stay inline, learn it (csp-seal crawl --learn), review it and set learned: { scripts: true }; if you did not write it, it is an injection the policy stopped`
  }
  if (v.blocked === 'eval')
    return "code built from strings (eval, new Function, string timers): replace it; 'unsafe-eval' in script-src would allow it at the cost of the policy's protection"
  let origin = v.blocked
  try {
    origin = new URL(v.blocked).origin
  } catch {
    // a scheme such as data: or blob:
  }
  return `a load the policy does not allow: if ${origin} is yours or trusted, add it to ${v.directive} in your policy (policy option or --policy); if not, remove what loads it`
}
