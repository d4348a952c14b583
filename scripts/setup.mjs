#!/usr/bin/env node
// Sets up a clone of csp-seal for development: the Debian packages the tests drive (installed with apt-get, through
// sudo when not root), the npm packages, and the build. Runs before `npm install`, so it uses Node.js alone.
// With CSP_SEAL_SETUP_NO_APT=1 it only checks the Debian packages and names the missing ones.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'

const root = new URL('..', import.meta.url)
const { packages } = JSON.parse(readFileSync(new URL('scripts/debian-packages.json', root), 'utf8'))
const run = (command, args) => execFileSync(command, args, { stdio: 'inherit', cwd: root, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })

const missing = packages.filter((entry) => !existsSync(entry.program)).map((entry) => entry.package)
if (missing.length) {
  if (process.env.CSP_SEAL_SETUP_NO_APT || !existsSync('/usr/bin/apt-get')) {
    console.error(
      `csp-seal setup: the tests need Debian packages that are missing: ${missing.join(', ')}\n  install them with: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`,
    )
    process.exit(1)
  }
  const apt = (...args) => (process.getuid?.() === 0 ? run('apt-get', args) : run('sudo', ['apt-get', ...args]))
  console.log(`csp-seal setup: installing ${missing.join(', ')} with apt-get`)
  apt('update')
  apt('install', '-y', ...missing)
}
run('npm', ['install', '--no-audit', '--no-fund'])
run('npm', ['run', 'build'])
console.log('csp-seal setup: done')
