import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Proxy and end-to-end tests open real listeners; keep the 2-core box from thrashing.
    maxWorkers: 2,
  },
});
