import { defineConfig } from 'vitest/config';

// Benchmarks that need test support written in TypeScript (the fake API server) run under vitest:
//   npx vitest run --config bench/vitest.config.ts
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
