import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // protocol suites open real sockets and fsync; two files at a time suits a 2-core machine
    maxWorkers: 2,
  },
});
