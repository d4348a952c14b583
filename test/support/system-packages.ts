import { existsSync } from 'node:fs'
import list from '../../scripts/debian-packages.json' with { type: 'json' }

/**
 * Vitest global setup: the tests drive Debian packages (scripts/debian-packages.json). Installing them is the set-up
 * script's job (`npm run setup`, which `.ci/run` runs too); this only names what is missing, and the command that
 * installs it, before any test starts.
 */
export default function setup(): void {
  const missing = list.packages.filter((entry) => !existsSync(entry.program)).map((entry) => entry.package)
  if (missing.length === 0) return
  throw new Error(
    `The tests need Debian packages that are missing: ${missing.join(', ')}. Install them with: npm run setup (or sudo apt-get update && sudo apt-get install -y ${missing.join(' ')})`,
  )
}
