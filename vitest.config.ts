import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Hang guards, not speed claims (no test asserts time): on a loaded 2-core box the privileged
    // side-by-side CNI tests run 5× slower than on a quiet one (2 s → 12 s, once past 20 s).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Proxy and end-to-end tests open real listeners; keep the 2-core box from thrashing.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'all', include: ['test/**/*.test.ts'] } },
      // The README's "Proxy behaviour" is the contract of both data planes: test/proxy runs again on
      // the one the first project does not use (test/proxy/proxy-fixture.ts reads the variable).
      { extends: true, test: { name: 'proxy on node', include: ['test/proxy/**/*.test.ts'], env: { PORTICO_TEST_DATA_PLANE: 'node' } } },
    ],
  },
});
