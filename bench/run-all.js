// `npm run bench`: every benchmark under bench/, one after another (never in parallel: they share
// the 2 cores). Each writes its JSON to bench/results/. Run `npm run build` first (npm run bench does).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BENCHES = [
  'routing/route-table.bench.js',
  'compile/compile.bench.js',
  'metrics/observe-request.bench.js',
  'controller/manifest-propagation.bench.js',
  'controller/kubernetes-propagation.bench.ts',
  'proxy/throughput.bench.js',
  'tls/https.bench.js',
  // Configuration churn under load: propagation, failures, RSS beside nginx (needs nginx-light for the comparison).
  'churn/churn.bench.ts',
  // Portico beside nginx and HAProxy (needs nginx-light and haproxy; reports what is missing).
  'compare/compare.bench.js',
  // Needs root and nftables (skips and says so otherwise).
  'service-proxy/sync.bench.js',
  // portico dns: the codec choice, then queries/s with dnsperf beside dnsmasq (skips without dnsperf).
  'dns/codec.bench.js',
  'dns/qps.bench.js',
  // The HTTP/1.1 engine beside today's proxy and nginx (needs nginx-light and wrk).
  'engine/hot-path.bench.js',
  // Root: the node agent against the kernel, LB failover, and the lab (needs wrk).
  'node-agent/converge.bench.js',
  'node-agent/failover.bench.js',
  'lab/lab.bench.js',
  // src/http1 (issue 13's engine): head parser ns/allocations beside llhttp.
  'http1/head-parser.bench.js',
];
const only = process.argv.slice(2);
let failed = 0;
for (const bench of BENCHES.filter((b) => only.length === 0 || only.some((o) => b.includes(o)))) {
  console.log(`\n=== ${bench}`);
  // TypeScript benches use test support (the fake API server) and run under vitest.
  const args = bench.endsWith('.ts')
    ? [join(here, '../node_modules/vitest/vitest.mjs'), 'run', '--config', join(here, 'vitest.config.ts'), join(here, bench)]
    : ['--expose-gc', join(here, bench)];
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(`${bench} failed with ${result.status ?? result.signal}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
