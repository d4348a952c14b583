import type { Problem } from '../problems.js'
import { CspEvaluator } from 'csp_evaluator/dist/evaluator.js'
import { Severity } from 'csp_evaluator/dist/finding.js'
import { CspParser } from 'csp_evaluator/dist/parser.js'

export interface Finding {
  directive: string
  value?: string
  description: string
  severity: 'high' | 'medium' | 'info'
}

/**
 * Runs Google's CSP Evaluator on policy text. Returns its findings of high and medium severity
 * (the "maybe" and info classes are advice for hand-written allow-lists, not for hash-based policies).
 */
export function evaluatePolicy(policy: string): Finding[] {
  const findings = new CspEvaluator(new CspParser(policy).csp).evaluate()
  return findings
    .filter((f) => f.severity === Severity.HIGH || f.severity === Severity.MEDIUM)
    .map((f) => ({ directive: f.directive, value: f.value, description: f.description, severity: f.severity === Severity.HIGH ? 'high' : 'medium' }))
}

/**
 * High-severity findings for a set of emitted policies, as warnings. Hash sources are folded into one
 * before evaluating (they do not change the findings), so a 10,000-page site costs a few evaluations.
 */
export function evaluatorWarnings(policies: Iterable<string>): Problem[] {
  const seen = new Set<string>()
  const warnings: Problem[] = []
  for (const policy of policies) {
    const folded = foldHashes(policy)
    if (seen.has(folded)) continue
    seen.add(folded)
    for (const finding of evaluatePolicy(folded)) {
      if (finding.severity !== 'high') continue
      const message = `CSP Evaluator: ${finding.directive}${finding.value ? ` ${finding.value}` : ''}: ${finding.description}`
      if (!warnings.some((w) => w.message === message)) warnings.push({ code: 'evaluator', message, fix: 'tighten the policy you give csp-seal' })
    }
  }
  return warnings
}

/** The policy with every hash source replaced by one placeholder: policies that differ only in hashes fold into one. */
export function foldHashes(policy: string): string {
  return policy.replace(/'sha(256|384|512)-[^']*'/g, "'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='")
}
