import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/**
 * Vitest global setup: the browser tests drive Debian's Chromium (never a downloaded browser) and the
 * server tests start nginx and run the Python recipe. On a fresh Debian machine where they are missing and we are root, install
 * them once with apt-get, so that `npm test` alone is enough; otherwise say exactly what to run.
 */
const PACKAGES: Array<[binary: string, pkg: string]> = [
  ['/usr/bin/chromium', 'chromium'],
  ['/usr/sbin/nginx', 'nginx'],
  ['/usr/bin/python3', 'python3'],
]

export default function setup(): void {
  const missing = PACKAGES.filter(([binary]) => !existsSync(binary)).map(([, pkg]) => pkg)
  if (missing.length === 0) return
  const command = `apt-get install -y ${missing.join(' ')}`
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`The tests need Debian packages that are missing: ${missing.join(', ')}. Install them with: sudo apt-get update && sudo ${command}`)
  }
  console.log(`csp-seal tests: installing ${missing.join(', ')} with apt-get (once per machine)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env })
}
