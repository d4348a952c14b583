import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'plugins/**/*.test.ts'],
    // Hang guards, not deadlines: a test's result is decided by what it observes, never by how long a busy
    // machine takes to get there.
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    // The machine has 2 cores; browser tests start one browser per file. (Three files at a time was slower here:
    // the browsers then contend for the cores.)
    fileParallelism: true,
    maxWorkers: 2,
    // Names the Debian packages that are missing (and the command that installs them) before any test starts.
    globalSetup: ['test/support/system-packages.ts'],
  },
})
