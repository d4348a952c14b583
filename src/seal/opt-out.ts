import type { Tag } from '../html/scan.js'

/**
 * `data-csp-seal="ignore"` on a `<script>`, `<style>` or `<link>`, or on any element for its `style` and `on…=`
 * attributes: csp-seal leaves the element as it is and allows nothing for it (no hash, no integrity, no origin,
 * no nonce slot), so it runs only if the policy allows it some other way. Opting out can only take something
 * away: markup that carries the attribute, written by anyone, never gets more than it would without it.
 */
export function optedOut(tag: Tag): boolean {
  return tag.attrs.get('data-csp-seal')?.value.trim().toLowerCase() === 'ignore'
}
