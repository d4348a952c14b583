import { existsSync } from 'node:fs'

/**
 * Vitest global setup: the tests drive Debian packages (Chromium for the browser tests, nginx and python3 for the
 * server recipes). Installing them is `.ci/run`'s job and the README's; this only says exactly what is missing
 * and the command that installs it, before any test starts.
 */
const PACKAGES: Array<[binary: string, pkg: string]> = [
  ['/usr/bin/chromium', 'chromium'],
  ['/usr/sbin/nginx', 'nginx'],
  ['/usr/bin/python3', 'python3'],
]

export default function setup(): void {
  const missing = PACKAGES.filter(([binary]) => !existsSync(binary)).map(([, pkg]) => pkg)
  if (missing.length === 0) return
  throw new Error(`The tests need Debian packages that are missing: ${missing.join(', ')}. Install them with: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`)
}
