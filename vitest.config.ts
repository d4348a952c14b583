import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'plugins/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The machine has 2 cores; browser tests start one Chromium per file.
    fileParallelism: true,
    maxWorkers: 2,
    // Installs Debian's chromium (and nginx) on a fresh machine, so `npm test` is all a newcomer runs.
    globalSetup: ['test/support/system-packages.ts'],
  },
});
