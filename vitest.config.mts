import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // one TLS certificate for every test host, removed at the end of the run
    globalSetup: ['test/global-setup.ts'],
    // protocol suites open real sockets and fsync; two files at a time suits a 2-core machine
    maxWorkers: 2,
  },
});
