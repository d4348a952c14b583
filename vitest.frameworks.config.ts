import { defineConfig } from 'vitest/config'

/**
 * `npm run test:frameworks`: real framework projects (fixtures/frameworks/<name>/project) installed from the npm
 * registry into temp folders and built with csp-seal's plugin or entry point. Kept out of `npm test`: the installs
 * are large and need the registry. Its last result is stated in the README.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.frameworks.ts'],
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    // One framework build at a time: the machine has 2 cores, and each build uses them.
    fileParallelism: false,
    maxWorkers: 1,
    globalSetup: ['test/support/system-packages.ts'],
  },
})
