import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { configDefaults, defineConfig } from 'vitest/config'

/**
 * The slowest test files, slowest first (their time in a 720 s `npm test` on a 2-core machine where a page fault is
 * slow, in seconds). They start first so that no worker is left running a long file alone at the end. Without this, a
 * fresh clone (no timing cache) runs the files largest first, which put the framework files last: one worker then ran
 * alone for the last ~80 s.
 */
const SLOWEST_FIRST = [
  'test/crawl.test.ts', // 186
  'test/frameworks.test.ts', // 182
  'test/engines-frameworks.test.ts', // 175 (Firefox and WebKit)
  'test/frameworks-crawl.test.ts', // 156
  'test/server-browser.test.ts', // 76
  'test/browser-sealed.test.ts', // 55
  'test/framework-entry-points.test.ts', // 46
]

class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = SLOWEST_FIRST.findIndex((name) => file.moduleId.endsWith(`/${name}`))
      return index === -1 ? SLOWEST_FIRST.length : index
    }
    // Array.prototype.sort is stable: the other files keep vitest's own order (the last run's slowest first).
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b))
  }
}

/** Every test file of `npm test`. */
export const ALL_TESTS = ['test/**/*.test.ts', 'plugins/**/*.test.ts']

/** The test files that replace a module with a mock (`vi.mock`): each needs a module registry of its own. */
export const MOCKING_TESTS = ['test/crash.test.ts', 'plugins/vite/verify-bytes.test.ts']

export default defineConfig({
  test: {
    // Hang guards, not deadlines: a test's result is decided by what it observes, never by how long a busy
    // machine takes to get there.
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    // Two workers on a 2-core machine: with the slowest files first the suite keeps both cores 97% busy from start
    // to end (about 1,340 CPU-seconds in a 705 s run, half of them Chromium's, nearly a third in the kernel),
    // and three workers, which cannot add a core, were slower (740 s against 695 s and 723 s for two, in runs that
    // also wrote vitest's JSON report).
    fileParallelism: true,
    maxWorkers: 2,
    sequence: { sequencer: SlowestFirst },
    // Names the Debian packages that are missing (and the command that installs them) before any test starts;
    // makes the run's folder where the framework fixtures are sealed once for the three files that drive them.
    globalSetup: ['test/support/system-packages.ts', 'test/support/sealed-frameworks-folder.ts'],
    // A worker keeps the modules it loaded for the next file it runs: loading Vite, webpack, Rspack and the
    // browser drivers afresh for each file took about 100 of the suite's 1,400 CPU-seconds. The files that mock a
    // module run with a registry of their own.
    projects: [
      { extends: true, test: { name: 'shared', include: ALL_TESTS, exclude: [...configDefaults.exclude, ...MOCKING_TESTS], isolate: false } },
      { extends: true, test: { name: 'mocking', include: MOCKING_TESTS } },
    ],
  },
})
