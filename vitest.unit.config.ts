import { defineConfig } from 'vitest/config'
import base from './vitest.config.js'

/**
 * The unit tier (`npm run test:unit`): the tests that need no browser, no server, no child process, no build (no
 * dist/) and no network, and run in well under a minute. They import the sources and read or copy files only.
 * A test belongs here when it meets that rule; test/unit-tier.test.ts checks the rule on everything these files
 * import, so a test that starts to need a browser or dist/ is moved out rather than slowing the tier down.
 * `npm test` runs every test, these included.
 */
export const UNIT_TESTS = [
  'test/architecture.test.ts',
  'test/cli-check.test.ts',
  'test/cli-input.test.ts',
  'test/fast-scan.test.ts',
  'test/fuzz.test.ts',
  'test/html5lib-conformance.test.ts',
  'test/import-map.test.ts',
  'test/parse5-pin.test.ts',
  'test/policy-base.test.ts',
  'test/policy.test.ts',
  'test/problem-codes.test.ts',
  'test/seal-page.test.ts',
  'test/site.test.ts',
  'test/sri.test.ts',
  'test/tokenizer.test.ts',
  'test/unit-tier.test.ts',
]

export default defineConfig({
  test: {
    ...base.test,
    // One project: these files mock no module, so they share their workers' modules too.
    projects: undefined,
    include: UNIT_TESTS,
    isolate: false,
    // No Debian package is needed: no browser, no nginx, no Python.
    globalSetup: [],
    // Property tests try a fifth of their cases here (test/support/property-runs.ts); `npm test` tries them all.
    env: { CSP_SEAL_PROPERTY_RUNS: '0.2' },
  },
})
